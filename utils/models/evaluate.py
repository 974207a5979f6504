"""Classification metrics for session purchase prediction, with bootstrap confidence intervals.

The definitions follow docs/DESIGN.md#session-purchase-prediction: accuracy, precision, recall,
F1 (positive class = purchase), ROC-AUC, PR-AUC (average precision) and log loss, each with a
bootstrap 95% interval over test sessions.
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


def bootstrap_weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """How often each session appears in each of ``n_boot`` resamples (rows sum to n). The same
    seed gives the same resamples for every model, so intervals and paired tests line up."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)


def weighted_auc(y_true, prob, weights: np.ndarray) -> np.ndarray:
    """ROC-AUC for each row of ``weights`` (ties count one half), all rows at once."""
    values, group = np.unique(prob, return_inverse=True)
    pos = np.zeros((len(weights), len(values)))
    neg = np.zeros_like(pos)
    np.add.at(pos.T, group, (weights * y_true).T)
    np.add.at(neg.T, group, (weights * (1 - y_true)).T)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):  # a one-class resample has no AUC: NaN
        return (pos * (below + 0.5 * neg)).sum(1) / (pos.sum(1) * neg.sum(1))


def weighted_metrics(y_true, prob, threshold: float, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The seven metrics for each row of ``weights``; a row of ones gives the plain metrics."""
    y = np.asarray(y_true).astype(float)
    p = np.clip(np.asarray(prob, dtype=float), EPS, 1 - EPS)
    pred = (p >= threshold).astype(float)
    total, positives = weights.sum(1), weights @ y
    true_pos, predicted = weights @ (pred * y), weights @ pred
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, positives, out=np.zeros_like(true_pos), where=positives > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(true_pos),
                   where=precision + recall > 0)
    # average precision: precision at each distinct score (descending), weighted by new recall
    order = np.argsort(-p, kind="stable")
    values, starts = np.unique(-p[order], return_index=True)
    tp = np.add.reduceat((weights * y)[:, order], starts, axis=1)
    fp = np.add.reduceat((weights * (1 - y))[:, order], starts, axis=1)
    cum_tp, cum_fp = np.cumsum(tp, 1), np.cumsum(fp, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        average_precision = (tp * cum_tp / np.maximum(cum_tp + cum_fp, EPS)).sum(1) / positives
    loss = -(weights @ (y * np.log(p) + (1 - y) * np.log(1 - p))) / total
    return {"accuracy": (weights @ (pred == y)) / total, "precision": precision, "recall": recall,
            "f1": f1, "roc_auc": weighted_auc(y, p, weights), "pr_auc": average_precision,
            "log_loss": loss}


def metrics_with_ci(y_true, prob, threshold: float = 0.5, n_boot: int = 200, seed: int = 0) -> dict:
    """{metric: {"value", "ci_low", "ci_high"}} with percentile bootstrap 95% intervals."""
    point = point_metrics(y_true, prob, threshold)
    samples = weighted_metrics(y_true, prob, threshold, bootstrap_weights(len(prob), n_boot, seed))
    result = {}
    for name, value in point.items():
        low, high = np.nanpercentile(samples[name], [2.5, 97.5])
        result[name] = {"value": float(value), "ci_low": float(low), "ci_high": float(high)}
    return result


def paired_auc_difference(y_true, prob_a, prob_b, n_boot: int = 500, seed: int = 0) -> dict:
    """ROC-AUC of a minus b on the same sessions: the difference, its 95% interval and the
    share of bootstrap samples in which a does not beat b (a one-sided p-value)."""
    y = np.asarray(y_true).astype(float)
    weights = bootstrap_weights(len(y), n_boot, seed)
    diffs = weighted_auc(y, np.asarray(prob_a), weights) - weighted_auc(y, np.asarray(prob_b), weights)
    diffs = diffs[np.isfinite(diffs)]
    return {
        "difference": float(skm.roc_auc_score(y, prob_a) - skm.roc_auc_score(y, prob_b)),
        "ci_low": float(np.percentile(diffs, 2.5)),
        "ci_high": float(np.percentile(diffs, 97.5)),
        "p_not_better": float(np.mean(diffs <= 0)),
    }


def best_f1_threshold(y_true, prob) -> float:
    """The threshold maximising F1, to be chosen on validation data and applied to test."""
    precision, recall, thresholds = skm.precision_recall_curve(y_true, prob)
    f1 = 2 * precision * recall / np.maximum(precision + recall, EPS)
    return float(thresholds[np.argmax(f1[:-1])])


def compare_to_zero(difference: dict) -> str:
    """Where the 95% interval of a difference ({"ci_low", "ci_high"}, e.g. from
    paired_auc_difference) lies: "above" zero (a real gain), "below" zero (a real loss) or
    "within" (zero is inside it: no difference this sample can see)."""
    if difference["ci_low"] > 0:
        return "above"
    if difference["ci_high"] < 0:
        return "below"
    return "within"
