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
