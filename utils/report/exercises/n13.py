"""Checks of notebook 13's exercises (explainability)."""

from __future__ import annotations

import numpy as np

from utils.models import explain
from utils.report.exercises import close


def attributions_add_up(answer, output, baseline_output):
    """13.1: by completeness, the attributions of a session add up to f(x) - f(baseline), up to
    the completeness error the notebook allows (5%)."""
    expected = float(output - baseline_output)
    # the integration error allowed: 5% of the change, or half a percentage point when it is tiny
    passed, message = close(answer, expected, max(0.05 * abs(expected), 0.005), "f(x) - f(baseline)")
    if passed:
        message += " The attributions share out the change of P(buy) from the baseline."
    return passed, message


def recency_precision(answer, truth, n_events):
    """13.2: the mean top-k precision against the truth of ranking each session's events by
    position, the last first."""
    if truth is None:
        if np.isnan(float(answer)):
            return True, "right: this source has no truth, so there is nothing to compare with."
        return False, ("this source has no truth of which events raised the purchase probability: "
                       "answer float('nan').")
    scores = np.tile(np.arange(truth.shape[1], dtype=float), (len(truth), 1))
    expected = float(np.nanmean(explain.top_k_precision(scores, truth, n_events)))
    return close(answer, expected, 1e-6, "top-k precision of the last events first")


def two_items_out(answer, score, history, column):
    """13.3: the fall of the top item's score when the two history items with the largest single
    occlusion are left out together."""
    single = explain.occlusion(score, history, column)
    both = np.argsort(-single, kind="stable")[:2]
    full = np.asarray(score([history]))[0, column]
    expected = float(full - np.asarray(score([np.delete(history, both)]))[0, column])
    passed, message = close(answer, expected, 1e-3 * max(1.0, abs(expected)), "the fall of the score")
    if passed:
        message += (f" The two single falls add up to {single[both].sum():.4g}: the difference is what the "
                    "two items do together.")
    return passed, message


CHECKS = {"13.1": attributions_add_up, "13.2": recency_precision, "13.3": two_items_out}
