"""The vectorised bootstrap metrics agree with scikit-learn's definitions."""

import numpy as np
import pytest
from sklearn import metrics as skm

from utils.models import evaluate


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_metrics_with_unit_weights_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    y = (rng.random(800) < 0.1).astype(int)
    prob = np.round(rng.random(800) * 0.3 + 0.4 * y * rng.random(800), 2)  # many ties
    fast = evaluate.weighted_metrics(y, prob, 0.25, np.ones((1, len(y))))
    for name, value in evaluate.point_metrics(y, prob, 0.25).items():
        assert fast[name][0] == pytest.approx(value, abs=1e-9), name


def test_integer_weights_equal_repeating_the_rows():
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(int)
    prob = np.round(rng.random(300), 2)
    counts = rng.integers(0, 3, 300)
    counts[np.flatnonzero(y)[:2]] = 1  # keep both classes
    counts[np.flatnonzero(1 - y)[:2]] = 1
    repeated = np.repeat(np.arange(300), counts)
    fast = evaluate.weighted_metrics(y, prob, 0.5, counts[None, :].astype(float))
    assert fast["roc_auc"][0] == pytest.approx(skm.roc_auc_score(y[repeated], prob[repeated]))
    assert fast["pr_auc"][0] == pytest.approx(skm.average_precision_score(y[repeated], prob[repeated]))
    clipped = prob[repeated].clip(1e-7, 1 - 1e-7)
    assert fast["log_loss"][0] == pytest.approx(skm.log_loss(y[repeated], clipped))


def test_bootstrap_weights_are_resamples_of_n():
    weights = evaluate.bootstrap_weights(50, 7, seed=0)
    assert weights.shape == (7, 50) and (weights.sum(1) == 50).all()
    assert (evaluate.bootstrap_weights(50, 7, seed=0) == weights).all()


def test_compare_to_zero_reads_the_interval_not_the_point():
    assert evaluate.compare_to_zero({"difference": 0.01, "ci_low": 0.002, "ci_high": 0.02}) == "above"
    assert evaluate.compare_to_zero({"difference": -0.01, "ci_low": -0.02, "ci_high": -0.001}) == "below"
    # a positive difference whose interval reaches below zero is no gain
    assert evaluate.compare_to_zero({"difference": 0.01, "ci_low": -0.001, "ci_high": 0.02}) == "within"
    assert evaluate.compare_to_zero({"difference": 0.0, "ci_low": 0.0, "ci_high": 0.0}) == "within"
    y = (np.arange(200) % 4 == 0).astype(int)
    good = y + np.random.default_rng(0).normal(0, 0.3, 200)
    poor = np.random.default_rng(1).random(200)
    assert evaluate.compare_to_zero(evaluate.paired_auc_difference(y, good, poor, n_boot=50)) == "above"
    assert evaluate.compare_to_zero(evaluate.paired_auc_difference(y, poor, good, n_boot=50)) == "below"
