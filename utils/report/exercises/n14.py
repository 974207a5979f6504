"""Checks of notebook 14's exercises (generalisation)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from utils.models import evaluate
from utils.report.exercises import close, one_of


def constant_shift_ece(answer, y_recent, p_recent, y_test, p_test, n_bins):
    """14.1: test ECE after adding logit(recent rate) - logit(mean recent prediction) to every log-odds."""
    def logit(p):
        return np.log(p / (1 - p))

    shift = logit(np.mean(y_recent)) - logit(np.mean(p_recent))
    shifted = 1 / (1 + np.exp(-(logit(np.asarray(p_test)) + shift)))
    expected = evaluate.expected_calibration_error(y_test, shifted, n_bins)
    return close(answer, expected, 1e-3, "the out-of-time ECE after the constant shift")


def k_alone_drop(answer, y, k, cold):
    """14.2: ROC-AUC of ranking by k alone on the warm shoppers' test points minus the cold ones'."""
    y, k, cold = np.asarray(y), np.asarray(k, dtype=float), np.asarray(cold, bool)
    if not (0 < y[cold].sum() < cold.sum() and 0 < y[~cold].sum() < (~cold).sum()):
        return False, "a group of test points holds one class only here: k alone has no ROC-AUC to compare"
    expected = roc_auc_score(y[~cold], k[~cold]) - roc_auc_score(y[cold], k[cold])
    return close(answer, expected, 1e-3, "warm minus cold ROC-AUC of k alone")


def held_out_days(answer):
    """14.3: why the in-time test is made of held-out days, not held-out shoppers."""
    return one_of(answer, {
        "a": "Not the reason: the size is set by test_days, and the two tests are made the same size anyway.",
        "b": "Right: shoppers held out of training are cold shoppers, a shift of their own; held-out days "
             "keep the in-time test's shoppers like the out-of-time test's, so only the time differs.",
        "c": "Not so: the design could leave any shoppers out of training; the question is what that "
             "would measure.",
    }, "b", "the reason")


CHECKS = {"14.1": constant_shift_ece, "14.2": k_alone_drop, "14.3": held_out_days}
