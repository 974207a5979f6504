"""Checks of notebook 06's exercises (evaluation)."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import precision_score

from utils.models import evaluate
from utils.report.exercises import close


def top_share_precision(answer, val_prob, test_prob, y_test, share):
    """06.1: test precision when the threshold flags the top ``share`` of validation points."""
    threshold = np.quantile(val_prob, 1 - share)
    expected = precision_score(y_test, test_prob >= threshold, zero_division=0)
    return close(answer, expected, 0.01, f"test precision at the top {share:.0%} of validation")


def isotonic_ece(answer, y_val, val_prob, y_test, test_prob, n_bins):
    """06.2: test ECE after isotonic regression fitted on validation."""
    isotonic = IsotonicRegression(out_of_bounds="clip").fit(val_prob, y_val)
    expected = evaluate.expected_calibration_error(y_test, isotonic.predict(test_prob), n_bins)
    return close(answer, expected, 1e-3, "test ECE after isotonic regression")


def narrower_by_points(answer, y_test, test_prob, shopper_weights, seed):
    """06.3: how many times wider the shopper interval of ROC-AUC is than the decision-point one,
    with as many replicates of each as ``shopper_weights`` has."""
    def width(weights):
        samples = evaluate.weighted_auc(y_test, test_prob, weights)
        low, high = np.nanpercentile(samples, [2.5, 97.5])
        return high - low

    points = evaluate.bootstrap_weights(len(y_test), len(shopper_weights), seed)
    return close(answer, width(shopper_weights) / width(points), 0.01,
                 "shopper interval width / decision-point interval width")


CHECKS = {"06.1": top_share_precision, "06.2": isotonic_ece, "06.3": narrower_by_points}
