"""Classification metrics for session purchase prediction, with bootstrap confidence intervals.

The definitions follow docs/DESIGN.md#session-purchase-prediction: accuracy, precision, recall,
F1 (positive class = purchase), ROC-AUC, PR-AUC (average precision) and log loss, each with a
bootstrap 95% interval. Sessions of one shopper are not independent, and a model's score depends
on its training seed, so the intervals of the purchase study resample shoppers (all their sessions
together) and draw a training seed per model in every replicate: see cluster_bootstrap_weights and
seed_bootstrap. Also here: Platt recalibration fitted on validation, expected calibration error,
Holm's correction and the smallest difference a bootstrap standard error can detect.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression

EPS = 1e-7
BLOCK = 250  # bootstrap replicates handled at once


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
    y = np.asarray(y_true, dtype=float)
    prob = np.asarray(prob, dtype=float)
    order = np.argsort(prob, kind="stable")
    _, starts = np.unique(prob[order], return_index=True)  # one column per distinct score
    ordered = weights[:, order]
    pos = np.add.reduceat(ordered * y[order], starts, axis=1)
    neg = np.add.reduceat(ordered * (1 - y[order]), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):  # a one-class resample has no AUC: NaN
        return (pos * (below + 0.5 * neg)).sum(1) / (pos.sum(1) * neg.sum(1))


def weighted_metrics(y_true, prob, threshold: float, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The seven metrics for each row of ``weights``; a row of ones gives the plain metrics."""
    y = np.asarray(y_true).astype(float)
    p = np.clip(np.asarray(prob, dtype=float), EPS, 1 - EPS)
    pred = (p >= threshold).astype(float)
    weights = np.asarray(weights, dtype=float)  # counts may be uint16: sums must not wrap around
    total, positives = weights.sum(1), weights @ y
    true_pos, predicted = weights @ (pred * y), weights @ pred
    precision = np.divide(true_pos, predicted, out=np.zeros_like(true_pos), where=predicted > 0)
    recall = np.divide(true_pos, positives, out=np.zeros_like(true_pos), where=positives > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(true_pos),
                   where=precision + recall > 0)
    loss = -(weights @ (y * np.log(p) + (1 - y) * np.log(1 - p))) / total
    return {"accuracy": (weights @ (pred == y)) / total, "precision": precision, "recall": recall,
            "f1": f1, "roc_auc": weighted_auc(y, p, weights), "pr_auc": weighted_pr_auc(y, p, weights),
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


def cluster_bootstrap_weights(groups, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap weights that resample whole groups (shoppers): each replicate draws as many
    shoppers as there are, with replacement, and every session of a drawn shopper counts as often
    as its shopper was drawn. Rows are replicates, columns the sessions in the order of ``groups``.
    Counts are kept as uint16 (2 bytes, not 8), so thousands of replicates of a large test set fit
    in memory."""
    _, group = np.unique(np.asarray(groups), return_inverse=True)
    n = group.max() + 1
    rng = np.random.default_rng(seed)
    weights = np.empty((n_boot, len(group)), np.uint16)
    for start in range(0, n_boot, BLOCK):  # a block at a time: the int64 draws stay small
        rows = min(BLOCK, n_boot - start)
        weights[start:start + rows] = rng.multinomial(n, np.full(n, 1.0 / n), size=rows)[:, group]
    return weights


def seed_draws(n_seeds: int, n_boot: int, seed: int) -> np.ndarray:
    """The training seed each replicate uses (uniform over the seeds), for one model."""
    return np.random.default_rng(seed).integers(n_seeds, size=n_boot)


def seed_bootstrap(statistic, y_true, prob_by_seed, weights: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``statistic(y, prob, weights)`` (one value per row of weights, e.g. weighted_auc) for every
    replicate, replicate b scoring the predictions of seed ``draws[b]``: ``prob_by_seed`` has one
    row per seed. The spread then holds both the sample of shoppers and the luck of training."""
    prob_by_seed = np.atleast_2d(np.asarray(prob_by_seed, dtype=float))
    values = np.full(len(weights), np.nan)
    for s in np.unique(draws):
        rows = np.flatnonzero(draws == s)
        for start in range(0, len(rows), BLOCK):  # a block of replicates at a time bounds the memory
            block = rows[start:start + BLOCK]
            values[block] = statistic(y_true, prob_by_seed[s], weights[block])
    return values


def weighted_pr_auc(y_true, prob, weights: np.ndarray) -> np.ndarray:
    """Average precision for each row of ``weights``: the precision at each distinct score
    (descending), weighted by the recall it adds."""
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(prob, dtype=float)
    order = np.argsort(-p, kind="stable")
    _, starts = np.unique(-p[order], return_index=True)
    ordered = weights[:, order]
    tp = np.add.reduceat(ordered * y[order], starts, axis=1)
    fp = np.add.reduceat(ordered * (1 - y[order]), starts, axis=1)
    cum_tp, cum_fp = np.cumsum(tp, 1), np.cumsum(fp, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (tp * cum_tp / np.maximum(cum_tp + cum_fp, EPS)).sum(1) / cum_tp[:, -1]


def bootstrap_over_seeds(statistic, y_true, prob_by_seed, weights: np.ndarray, draws: np.ndarray):
    """(value, samples): the statistic on all sessions averaged over the seeds, and its
    shopper-and-seed bootstrap replicates (seed_bootstrap); (nan, all-NaN) if y has one class."""
    y = np.asarray(y_true, dtype=float)
    prob_by_seed = np.atleast_2d(np.asarray(prob_by_seed, dtype=float))
    if not 0 < y.sum() < len(y):
        return float("nan"), np.full(len(weights), np.nan)
    unit = np.ones((1, len(y)))
    value = float(np.mean([statistic(y, prob, unit)[0] for prob in prob_by_seed]))
    return value, seed_bootstrap(statistic, y, prob_by_seed, weights, draws)


def estimate(value: float, samples: np.ndarray) -> dict:
    """{"value", "ci_low", "ci_high"}: a point value with the percentile 95% interval of its
    bootstrap samples (replicates without a value, NaN, are left out)."""
    samples = samples[np.isfinite(samples)]
    low, high = np.percentile(samples, [2.5, 97.5]) if len(samples) else (np.nan, np.nan)
    return {"value": float(value), "ci_low": float(low), "ci_high": float(high)}


def weighted_mean(values, weights: np.ndarray) -> np.ndarray:
    """The mean of ``values`` (one per column of ``weights``) in each replicate (row), NaN values
    left out: the bootstrap of a mean over sessions, with cluster_bootstrap_weights over shoppers."""
    values = np.asarray(values, dtype=float)
    known = np.isfinite(values)
    weights = np.asarray(weights, dtype=float)[:, known]
    with np.errstate(invalid="ignore", divide="ignore"):
        return weights @ values[known] / weights.sum(1)


def bootstrap_se(samples: np.ndarray) -> float:
    """Standard error: the standard deviation of the bootstrap samples (NaN left out)."""
    samples = samples[np.isfinite(samples)]
    return float(np.std(samples, ddof=1)) if len(samples) > 1 else float("nan")


def bootstrap_p_value(samples: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "the difference is zero": twice the smaller share of
    replicates on either side of zero, at most 1."""
    samples = samples[np.isfinite(samples)]
    return float(min(1.0, 2 * min(np.mean(samples <= 0), np.mean(samples >= 0))))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment: the k-th smallest of m p-values is multiplied by m - k + 1,
    made non-decreasing in that order and capped at 1. Rejecting where the adjusted p < alpha
    keeps the chance of any false rejection among the m comparisons below alpha."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    scaled = np.minimum(1.0, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
    adjusted = np.empty_like(p)
    adjusted[order] = scaled
    return adjusted


def detectable_difference(se: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true difference a two-sided test at level ``alpha`` finds with probability
    ``power``, given the standard error of the estimated difference:
    (z_{1-alpha/2} + z_{power}) * se, about 2.80 * se at alpha 0.05 and 80% power."""
    z = NormalDist().inv_cdf
    return float((z(1 - alpha / 2) + z(power)) * se)


def expected_calibration_error(y_true, prob, n_bins: int = 10) -> float:
    """Expected calibration error over ``n_bins`` equal-count bins of the predicted probability
    (sorted, split into bins of as equal size as possible): the session-weighted mean of
    |mean predicted - observed rate| per bin. Equal-count bins, because with a purchase rate near
    5% equal-width bins would put almost every session in the first bin."""
    y = np.asarray(y_true, dtype=float)
    prob = np.asarray(prob, dtype=float)
    order = np.argsort(prob, kind="stable")
    bins = np.array_split(order, min(n_bins, len(prob)))
    return float(sum(len(b) * abs(prob[b].mean() - y[b].mean()) for b in bins) / len(prob))


def fit_platt(y_validation, prob_validation):
    """Platt scaling fitted on validation: a logistic regression of the label on the logit of the
    predicted probability. Returns the function that maps probabilities to calibrated ones; it is
    increasing, so rankings (ROC-AUC, PR-AUC) stay as they were. Test labels never enter."""
    y = np.asarray(y_validation).astype(int)
    if not 0 < y.sum() < len(y):
        raise ValueError("Platt scaling needs both classes in the validation labels; "
                         "lengthen the validation split (the knob validation_days of the split).")
    logit = np.log(np.clip(prob_validation, EPS, 1 - EPS) / (1 - np.clip(prob_validation, EPS, 1 - EPS)))
    model = LogisticRegression(C=1e6).fit(logit[:, None], y)  # almost no penalty: two parameters

    def calibrate(prob):
        p = np.clip(np.asarray(prob, dtype=float), EPS, 1 - EPS)
        return model.predict_proba(np.log(p / (1 - p))[:, None])[:, 1]

    return calibrate
