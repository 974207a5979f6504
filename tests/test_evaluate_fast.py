"""The vectorised bootstrap metrics agree with scikit-learn's definitions; the shopper-and-seed
bootstrap, Holm, calibration error, Platt recalibration and the detectable difference behave."""

import inspect

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


def _shoppers(n_shoppers=300, seed=0):
    """Shoppers with 1-4 sessions each and a shopper-level purchase propensity, so sessions of one
    shopper are correlated."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_shoppers)
    shopper = np.repeat(np.arange(n_shoppers), sizes)
    propensity = rng.normal(0, 1.5, n_shoppers)[shopper]
    y = (rng.random(len(shopper)) < 1 / (1 + np.exp(2.5 - propensity))).astype(float)
    prob = 1 / (1 + np.exp(2.5 - propensity - rng.normal(0, 1, len(shopper))))
    return shopper, y, prob


def _auc_width(weights, y, prob):
    samples = evaluate.weighted_auc(y, prob, weights)
    low, high = np.nanpercentile(samples, [2.5, 97.5])
    return high - low


def test_cluster_bootstrap_keeps_a_shoppers_sessions_together():
    shopper = np.array([7, 7, 3, 9, 9, 9, 3])
    weights = evaluate.cluster_bootstrap_weights(shopper, 50, seed=1)
    assert weights.shape == (50, 7)
    for rows in ([0, 1], [2, 6], [3, 4, 5]):  # one weight per shopper in each replicate
        assert (weights[:, rows] == weights[:, rows[:1]]).all()
    # each replicate draws as many shoppers as there are
    assert (weights[:, [0, 2, 3]].sum(1) == 3).all()


def test_duplicating_sessions_shrinks_the_session_interval_but_not_the_shopper_interval():
    shopper, y, prob = _shoppers()
    twice = np.concatenate([shopper, shopper]), np.concatenate([y, y]), np.concatenate([prob, prob])
    by_shopper = _auc_width(evaluate.cluster_bootstrap_weights(shopper, 2000, 0), y, prob)
    by_shopper_twice = _auc_width(evaluate.cluster_bootstrap_weights(twice[0], 2000, 0), *twice[1:])
    by_session = _auc_width(evaluate.bootstrap_weights(len(y), 2000, 0), y, prob)
    by_session_twice = _auc_width(evaluate.bootstrap_weights(2 * len(y), 2000, 0), *twice[1:])
    assert by_shopper_twice == pytest.approx(by_shopper, rel=0.1)  # same shoppers: same information
    assert by_session_twice < 0.8 * by_session  # rows as independent: falsely about 1/sqrt(2) narrower


def test_seed_bootstrap_scores_the_drawn_seed():
    y = np.array([0, 1, 0, 1, 0, 1.0])
    perfect, inverted = np.array([0.1, 0.9, 0.2, 0.8, 0.3, 0.7]), np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3])
    weights = np.ones((4, 6))
    draws = np.array([0, 1, 1, 0])
    samples = evaluate.seed_bootstrap(evaluate.weighted_auc, y, np.stack([perfect, inverted]), weights, draws)
    assert samples.tolist() == [1.0, 0.0, 0.0, 1.0]
    both = np.stack([perfect, inverted])
    value, _ = evaluate.bootstrap_over_seeds(evaluate.weighted_auc, y, both, weights, draws)
    assert value == pytest.approx(0.5)  # the mean over seeds
    assert set(evaluate.seed_draws(3, 200, seed=0)) == {0, 1, 2}


def test_seed_spread_widens_the_interval():
    shopper, y, prob = _shoppers(seed=4)
    rng = np.random.default_rng(5)
    seeds = np.stack([prob * np.exp(rng.normal(0, s, len(prob))) for s in (0.2, 1.5)])  # two unlike trainings
    weights = evaluate.cluster_bootstrap_weights(shopper, 1000, 0)
    one_seed = evaluate.seed_bootstrap(evaluate.weighted_auc, y, seeds[:1], weights, np.zeros(1000, int))
    both = evaluate.seed_bootstrap(evaluate.weighted_auc, y, seeds, weights, evaluate.seed_draws(2, 1000, 1))
    assert np.std(both) > 1.5 * np.std(one_seed)


def test_holm_adjustment():
    adjusted = evaluate.holm([0.01, 0.04, 0.03, 0.5])
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 = 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.5
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert evaluate.holm([0.6, 0.2]) == pytest.approx([0.6, 0.4])
    assert evaluate.holm([0.9, 0.8]).max() <= 1.0
    assert evaluate.holm([0.02]) == pytest.approx([0.02])


def test_bootstrap_p_value_is_two_sided():
    assert evaluate.bootstrap_p_value(np.array([1.0, 2, 3, -1])) == pytest.approx(0.5)
    assert evaluate.bootstrap_p_value(np.array([1.0, 2, 3, 4])) == 0.0
    assert evaluate.bootstrap_p_value(np.array([-1.0, 1])) == 1.0


def test_expected_calibration_error():
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1.0])
    assert evaluate.expected_calibration_error(y, np.full(8, 0.5), n_bins=1) == 0.0
    # two equal-count bins: predicted 0.1 vs observed 0.25, predicted 0.9 vs observed 0.75
    prob = np.array([0.1] * 4 + [0.9] * 4)
    assert evaluate.expected_calibration_error(y, prob, n_bins=2) == pytest.approx(0.15)
    assert evaluate.expected_calibration_error(y, y, n_bins=4) == 0.0


def test_platt_recalibration_is_fitted_on_validation_only():
    rng = np.random.default_rng(2)
    true = rng.random(4000) * 0.1
    y_val = (rng.random(4000) < true).astype(int)
    inflated = np.clip(true * 1.6 + 0.01, 0, 1)  # too high on average, like early-stopped models
    calibrate = evaluate.fit_platt(y_val, inflated)
    prob_test = np.clip(rng.random(3000) * 0.16 + 0.01, 0, 1)
    # the fit takes validation labels and probabilities only, the map takes probabilities only:
    # test labels have no way in; and the same validation data give the same map
    assert list(inspect.signature(evaluate.fit_platt).parameters) == ["y_validation", "prob_validation"]
    assert list(inspect.signature(calibrate).parameters) == ["prob"]
    assert np.array_equal(calibrate(prob_test), evaluate.fit_platt(y_val, inflated)(prob_test))
    calibrated = calibrate(inflated)
    assert abs(calibrated.mean() - y_val.mean()) < abs(inflated.mean() - y_val.mean()) / 5
    assert (np.diff(calibrate(np.sort(prob_test))) >= 0).all()  # increasing: rankings unchanged
    ece = evaluate.expected_calibration_error
    assert ece(y_val, calibrated) < ece(y_val, inflated)
    with pytest.raises(ValueError, match="validation"):
        evaluate.fit_platt(np.zeros(10), np.full(10, 0.2))


def test_detectable_difference_is_about_2_8_standard_errors():
    assert evaluate.detectable_difference(0.01) == pytest.approx(0.0280, abs=2e-4)
    assert evaluate.detectable_difference(0.01, alpha=0.05, power=0.5) == pytest.approx(0.0196, abs=1e-4)
    assert evaluate.detectable_difference(0.02) == pytest.approx(2 * evaluate.detectable_difference(0.01))
