"""Classification metrics for session purchase prediction, with bootstrap confidence intervals.

The definitions follow docs/DESIGN.md: accuracy, precision, recall, F1 (positive class =
purchase), ROC-AUC, PR-AUC (average precision) and log loss, each with a bootstrap 95% interval
over test sessions.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

EPS = 1e-7


def point_metrics(y_true, prob, threshold: float = 0.5) -> dict[str, float]:
    """All seven metrics at one decision threshold."""
    y_true = np.asarray(y_true).astype(int)
    prob = np.clip(np.asarray(prob, dtype=float), EPS, 1 - EPS)
    pred = (prob >= threshold).astype(int)
    both_classes = 0 < y_true.sum() < len(y_true)
    return {
        "accuracy": skm.accuracy_score(y_true, pred),
        "precision": skm.precision_score(y_true, pred, zero_division=0),
        "recall": skm.recall_score(y_true, pred, zero_division=0),
        "f1": skm.f1_score(y_true, pred, zero_division=0),
        "roc_auc": skm.roc_auc_score(y_true, prob) if both_classes else float("nan"),
        "pr_auc": skm.average_precision_score(y_true, prob) if both_classes else float("nan"),
        "log_loss": skm.log_loss(y_true, prob, labels=[0, 1]),
    }


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampling indices shared by every model, so intervals and paired tests line up."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def metrics_with_ci(y_true, prob, threshold: float = 0.5, n_boot: int = 200, seed: int = 0) -> dict:
    """{metric: {"value", "ci_low", "ci_high"}} with percentile bootstrap 95% intervals."""
    y_true, prob = np.asarray(y_true), np.asarray(prob)
    point = point_metrics(y_true, prob, threshold)
    samples = [point_metrics(y_true[idx], prob[idx], threshold)
               for idx in bootstrap_indices(len(y_true), n_boot, seed)]
    result = {}
    for name, value in point.items():
        values = np.array([s[name] for s in samples], dtype=float)
        low, high = np.nanpercentile(values, [2.5, 97.5])
        result[name] = {"value": float(value), "ci_low": float(low), "ci_high": float(high)}
    return result


def paired_auc_difference(y_true, prob_a, prob_b, n_boot: int = 500, seed: int = 0) -> dict:
    """ROC-AUC of a minus b on the same sessions: the difference, its 95% interval and the
    share of bootstrap samples in which a does not beat b (a one-sided p-value)."""
    y_true, prob_a, prob_b = map(np.asarray, (y_true, prob_a, prob_b))
    diffs = []
    for idx in bootstrap_indices(len(y_true), n_boot, seed):
        y = y_true[idx]
        if 0 < y.sum() < len(y):
            diffs.append(skm.roc_auc_score(y, prob_a[idx]) - skm.roc_auc_score(y, prob_b[idx]))
    diffs = np.array(diffs)
    return {
        "difference": float(skm.roc_auc_score(y_true, prob_a) - skm.roc_auc_score(y_true, prob_b)),
        "ci_low": float(np.percentile(diffs, 2.5)),
        "ci_high": float(np.percentile(diffs, 97.5)),
        "p_not_better": float(np.mean(diffs <= 0)),
    }


def best_f1_threshold(y_true, prob) -> float:
    """The threshold maximising F1, to be chosen on validation data and applied to test."""
    precision, recall, thresholds = skm.precision_recall_curve(y_true, prob)
    f1 = 2 * precision * recall / np.maximum(precision + recall, EPS)
    return float(thresholds[np.argmax(f1[:-1])])
