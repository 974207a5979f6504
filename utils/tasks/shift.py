"""Generalisation of the purchase models: how they fare on data unlike the data they learnt from.

The live purchase task of the study (utils.data.sessions.decision_points) under four shifts
(docs/DESIGN.md#generalisation): later days (``out_of_time_split``), shoppers never seen in
training, a region left out of training, and a changed regime made by the simulator. Each shift
compares the same trained models on an in-distribution test set and a shifted one:

- ``purchase_data`` builds the arrays utils.models.train reads, the way the study builds them;
- ``retrain`` trains every model with its chosen setting through train's fit functions, and
  ``score_saved`` scores the study's saved models;
- ``shift_metrics`` gives each model's ROC-AUC and PR-AUC on both sets and their drop, with
  intervals that resample shoppers (of both sets at once) and training seeds, and its expected
  calibration error before and after Platt scaling fitted on a recent slice of shifted data;
  ``paired_difference`` and ``drop_differences`` compare models on the same replicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from utils.data.schema import require_columns
from utils.models import evaluate, train
from utils.models.sequence import SEQUENCE_KINDS

OUT_OF_TIME = ("train", "validation", "in_time_test", "gap", "recent", "out_of_time_test")


def out_of_time_split(start: pd.Series, early_days: int, validation_days: int, test_days: int,
                      recent_days: int, train_days: int | None = None, seed: int = 0) -> pd.Series:
    """Each session's part in the out-of-time design, by the calendar day it starts (day 0 is the
    first day of ``start``):

    - the last ``test_days`` days are ``out_of_time_test``, the ``recent_days`` before them
      ``recent`` (labelled data a shop holds when the test period begins, for recalibration);
    - the first ``early_days`` days are the early period: its last ``validation_days`` days are
      ``validation`` (early stopping); of the ``train_days + test_days`` days before them (all the
      days before them when ``train_days`` is None), ``test_days`` drawn at random with ``seed``
      are ``in_time_test`` and the rest ``train``;
    - the days before that window and between the early period and ``recent`` are the ``gap``,
      which nothing reads.

    Both tests have ``test_days`` days the model never trained on; the in-time days lie among the
    days it trained on, the out-of-time ones after the gap, so only the distance in time differs.
    """
    day = start.dt.floor("D")
    index = ((day - day.min()) // pd.Timedelta(days=1)).to_numpy(int)
    n_days = int(index.max()) + 1
    test_from = n_days - test_days
    recent_from = test_from - recent_days
    held_from = early_days - validation_days  # the validation days close the early period
    first = 0 if train_days is None else max(0, held_from - train_days - test_days)
    if held_from - first - test_days < 1 or early_days > recent_from:
        raise ValueError(
            f"the data spans {n_days} days: too few for an early period of {early_days} days "
            f"({validation_days} validation, {test_days} in-time test and at least one training day) "
            f"followed by {recent_days} recent and {test_days} test days; shorten the early period "
            "(early_share), recent_days or the test days")
    part = np.full(n_days, "gap", dtype=object)
    part[first:held_from] = "train"
    in_time = np.random.default_rng(seed).choice(np.arange(first, held_from), test_days, replace=False)
    part[in_time] = "in_time_test"
    part[held_from:early_days] = "validation"
    part[recent_from:test_from] = "recent"
    part[test_from:] = "out_of_time_test"
    return pd.Series(pd.Categorical(part[index], categories=OUT_OF_TIME), index=start.index, name="split")


def last_days(start: pd.Series, mask, n_days: int | None) -> np.ndarray:
    """``mask`` (over the rows of ``start``) cut to the rows whose day is among the last ``n_days``
    calendar days of the masked rows (None: all of them): a training budget in days."""
    mask = np.asarray(mask, bool)
    if n_days is None or not mask.any():
        return mask
    day = start.dt.floor("D")
    return mask & (day > day[mask].max() - pd.Timedelta(days=n_days)).to_numpy()


def equal_size(sessions_a: np.ndarray, sessions_b: np.ndarray,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Masks over two sets of decision points (the session of each) that keep every session of
    the set with fewer sessions and as many sessions of the other, drawn at random with ``seed``,
    with all their decision points: two test sets of the same size."""
    unique_a, unique_b = np.unique(sessions_a), np.unique(sessions_b)
    n = min(len(unique_a), len(unique_b))
    rng = np.random.default_rng(seed)
    keep_a = np.isin(sessions_a, rng.choice(unique_a, n, replace=False))
    keep_b = np.isin(sessions_b, rng.choice(unique_b, n, replace=False))
    return keep_a, keep_b


# ---------------------------------------------------------------------------------------------
# The arrays the models read, and (re)training


def user_scaler(frame: pd.DataFrame, user_columns: list[str],
                fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the spread (standard deviation + 1e-6) of the user features over the sessions
    whose decision points ``fit`` marks (a mask over the rows of ``frame``), read from each
    session's first decision point: the standardisation the study fits on its training sessions."""
    per_session = frame.assign(_fit=np.asarray(fit, bool))[frame["k"] == 1].set_index("session").sort_index()
    fitted = per_session.loc[per_session["_fit"], user_columns].to_numpy(np.float32)
    if len(fitted) == 0:
        raise ValueError("no session to fit the user-feature scaler on: `fit` marks no decision point")
    return fitted.mean(0), fitted.std(0) + 1e-6


def purchase_data(frame: pd.DataFrame, arrays: dict, aggregate_columns: list[str], user_columns: list[str],
                  vocab_sizes: dict, scaler: tuple[np.ndarray, np.ndarray], splits: dict) -> dict:
    """What utils.models.train's fit and predict functions read, as the study builds it: the
    sequences (row = session), the user features of each session standardised with ``scaler``
    (``user_scaler``), each decision point's session, k, label and summary row (the aggregate
    columns, then the user columns), and the decision points of each named set of ``splits``
    ({name: mask over the rows of ``frame``}, e.g. "train", "validation")."""
    require_columns(frame, ["session", "k", "label", *aggregate_columns, *user_columns],
                    "the decision points", fix="encode them with utils.data.features.encode_task")
    per_session = frame[frame["k"] == 1].set_index("session").sort_index()
    if not np.array_equal(per_session.index, np.arange(len(arrays["length"]))):
        raise ValueError(f"the sequences hold {len(arrays['length'])} sessions but the decision points start "
                         f"{len(per_session)} sessions: encode both with one call of features.encode_task")
    mean, spread = scaler
    return {
        "arrays": dict(arrays),
        "user": (per_session[user_columns].to_numpy(np.float32) - mean) / spread,
        "point_session": frame["session"].to_numpy(),
        "point_k": frame["k"].to_numpy(),
        "aggregates": frame[aggregate_columns + user_columns].to_numpy(np.float32),
        "labels": frame["label"].to_numpy().astype(int),
        "vocab_sizes": vocab_sizes,
        **{name: np.flatnonzero(np.asarray(mask, bool)) for name, mask in splits.items()},
    }


@dataclass
class Retrained:
    prob: dict  # {set name: {kind: (n_seeds, n_points) purchase probabilities}}
    fits: dict  # {kind: [{"seconds", "validation_auc", "hit_epoch_cap"} per seed]}


def retrain(data: dict, configs: dict, n_seeds: int, epochs: int, patience: int, build_model, build_baseline,
            score: dict) -> Retrained:
    """Train every model of ``configs`` ({kind: its chosen setting}) with seeds 0 .. n_seeds - 1
    on data["train"], early stopping on data["validation"] (sequence models: at most ``epochs``
    epochs, ``patience``), through train.fit_sequence_model and train.fit_baseline, and predict
    the decision points of each set of ``score`` ({name: points}). A kind of
    utils.models.sequence.SEQUENCE_KINDS is built by ``build_model``, any other by
    ``build_baseline``."""
    import keras
    from tqdm.auto import tqdm

    prob = {name: {} for name in score}
    fits = {}
    _, ratio = train.balance_weights(data["labels"][data["train"]])
    with tqdm(total=len(configs) * n_seeds, desc="retraining", unit="fit") as progress:
        for kind, config in configs.items():
            is_sequence = kind in SEQUENCE_KINDS
            by_seed = {name: [] for name in score}
            fits[kind] = []
            for seed in range(n_seeds):
                progress.set_postfix_str(f"{kind} seed {seed}")
                result = (train.fit_sequence_model(build_model, kind, config, data, seed, epochs, patience)
                          if is_sequence else train.fit_baseline(build_baseline, kind, config, data, seed))
                for name, points in score.items():
                    by_seed[name].append(train.predict(result.model, data, points, ratio) if is_sequence
                                         else train.predict_baseline(result.model, data, points, ratio))
                fits[kind].append({"seconds": result.seconds, "validation_auc": result.best_val_auc,
                                   "hit_epoch_cap": result.hit_epoch_cap})
                if is_sequence:
                    keras.backend.clear_session()  # a fresh graph for the next model
                progress.update()
            for name in score:
                prob[name][kind] = np.array(by_seed[name])
    return Retrained(prob, fits)


def score_saved(state_dir, n_seeds: dict, data: dict, train_labels: np.ndarray, score: dict) -> dict:
    """The purchase probabilities that every saved model of a study ({kind: number of seeds})
    gives the decision points of each set of ``score`` ({name: points of ``data``}):
    {name: {kind: (n_seeds, n_points)}}, one row per seed. ``train_labels`` are the labels the
    study trained on; their rate undoes its class balancing."""
    _, ratio = train.balance_weights(np.asarray(train_labels))
    prob = {name: {} for name in score}
    for kind, seeds in n_seeds.items():
        models = [train.load_model(state_dir, kind, seed) for seed in range(seeds)]
        for name, points in score.items():
            prob[name][kind] = np.array([train.predict(model, data, points, ratio) if kind in SEQUENCE_KINDS
                                         else train.predict_baseline(model, data, points, ratio)
                                         for model in models])
    return prob


# ---------------------------------------------------------------------------------------------
# Metrics under shift


@dataclass
class TestSet:
    """Decision points of one test set: their labels, their shoppers and each model's purchase
    probabilities ({kind: (n_seeds, n_points)}, one row per training seed)."""

    labels: np.ndarray
    shoppers: np.ndarray
    prob: dict

    def __post_init__(self):
        self.labels = np.asarray(self.labels).astype(int)
        self.shoppers = np.asarray(self.shoppers)
        self.prob = {kind: np.atleast_2d(np.asarray(p, dtype=float)) for kind, p in self.prob.items()}
        wrong = [kind for kind, p in self.prob.items() if p.shape[1] != len(self.labels)]
        if wrong or len(self.shoppers) != len(self.labels):
            raise ValueError(f"a test set needs one label, shopper and probability per decision point; "
                             f"{len(self.labels)} labels, {len(self.shoppers)} shoppers, and other lengths "
                             f"for {wrong}")

    def take(self, mask) -> TestSet:
        mask = np.asarray(mask, bool)
        return TestSet(self.labels[mask], self.shoppers[mask], {k: p[:, mask] for k, p in self.prob.items()})


def mean_ece(labels, prob_by_seed, n_bins: int = 10) -> float:
    """Expected calibration error (evaluate.expected_calibration_error), the mean over seeds."""
    return float(np.mean([evaluate.expected_calibration_error(labels, p, n_bins) for p in prob_by_seed]))


def recalibrated_ece(recent: TestSet | None, shifted: TestSet, kind: str, n_bins: int = 10) -> float:
    """The shifted set's expected calibration error after Platt scaling (evaluate.fit_platt)
    fitted, for each seed, on that seed's predictions of the ``recent`` slice; the mean over
    seeds. NaN when there is no recent slice or it lacks a buyer or a non-buyer."""
    if recent is None or not 0 < recent.labels.sum() < len(recent.labels):
        return float("nan")
    calibrated = [evaluate.fit_platt(recent.labels, before)(after)
                  for before, after in zip(recent.prob[kind], shifted.prob[kind], strict=True)]
    return mean_ece(shifted.labels, calibrated, n_bins)


def shift_metrics(inside: TestSet, shifted: TestSet, recent: TestSet | None, n_boot: int, seed: int,
                  n_bins: int = 10) -> tuple[dict, dict]:
    """Every model on the in-distribution test set ``inside`` and on the ``shifted`` one.

    Returns (findings, samples). findings[kind] holds ``roc_auc_in``, ``roc_auc_out`` and
    ``roc_auc_drop`` (in minus out), the same for ``pr_auc``, each {"value", "ci_low", "ci_high"}
    (the value the mean over seeds), and ``ece_in``, ``ece_out`` and ``ece_out_recalibrated``
    (after Platt scaling on ``recent``, see ``recalibrated_ece``). The intervals come from
    ``n_boot`` replicates that resample the shoppers of both sets at once (a shopper in both
    counts in both as often as drawn) and, per model, one training seed that scores both sets:
    the drop pairs the same trained model. samples[kind][metric] = (replicates in, replicates
    out), for paired comparisons on the same replicates.
    """
    missing = set(inside.prob) ^ set(shifted.prob)
    if missing:
        raise ValueError(f"the two test sets must hold the same models; only one holds {sorted(missing)}")
    shoppers = np.concatenate([inside.shoppers, shifted.shoppers])
    weights = evaluate.cluster_bootstrap_weights(shoppers, n_boot, seed)
    w_in, w_out = weights[:, :len(inside.labels)], weights[:, len(inside.labels):]
    findings, samples = {}, {}
    for i, kind in enumerate(inside.prob):
        if len(inside.prob[kind]) != len(shifted.prob[kind]):
            raise ValueError(f"{kind}: {len(inside.prob[kind])} seeds in one test set, "
                             f"{len(shifted.prob[kind])} in the other; score both with the same models")
        draws = evaluate.seed_draws(len(inside.prob[kind]), n_boot, seed + 1 + i)
        row, samples[kind] = {}, {}
        for metric, statistic in (("roc_auc", evaluate.weighted_auc), ("pr_auc", evaluate.weighted_pr_auc)):
            value_in, in_samples = evaluate.bootstrap_over_seeds(
                statistic, inside.labels, inside.prob[kind], w_in, draws)
            value_out, out_samples = evaluate.bootstrap_over_seeds(
                statistic, shifted.labels, shifted.prob[kind], w_out, draws)
            row[f"{metric}_in"] = evaluate.estimate(value_in, in_samples)
            row[f"{metric}_out"] = evaluate.estimate(value_out, out_samples)
            row[f"{metric}_drop"] = evaluate.estimate(value_in - value_out, in_samples - out_samples)
            samples[kind][metric] = (in_samples, out_samples)
        row["ece_in"] = mean_ece(inside.labels, inside.prob[kind], n_bins)
        row["ece_out"] = mean_ece(shifted.labels, shifted.prob[kind], n_bins)
        row["ece_out_recalibrated"] = recalibrated_ece(recent, shifted, kind, n_bins)
        findings[kind] = row
    return findings, samples


def paired_difference(findings: dict, samples: dict, a: str, b: str, metric: str = "roc_auc",
                      alpha: float = 0.05, power: float = 0.8) -> dict:
    """Model a minus model b on the same shopper replicates (each model draws its own seeds), on
    the in-distribution set (``in``) and the shifted one (``out``), and how much the shift
    changes it (``change`` = out minus in), each with its interval; ``p_out``, the two-sided
    bootstrap p-value of the shifted difference (evaluate.bootstrap_p_value), and
    ``detectable_out``, the smallest difference the shifted set detects
    (evaluate.detectable_difference)."""
    a_in, a_out = samples[a][metric]
    b_in, b_out = samples[b][metric]
    value_in = findings[a][f"{metric}_in"]["value"] - findings[b][f"{metric}_in"]["value"]
    value_out = findings[a][f"{metric}_out"]["value"] - findings[b][f"{metric}_out"]["value"]
    se_out = evaluate.bootstrap_se(a_out - b_out)
    return {"in": evaluate.estimate(value_in, a_in - b_in),
            "out": evaluate.estimate(value_out, a_out - b_out),
            "change": evaluate.estimate(value_out - value_in, (a_out - b_out) - (a_in - b_in)),
            "p_out": evaluate.bootstrap_p_value(a_out - b_out),
            "detectable_out": evaluate.detectable_difference(se_out, alpha, power)}


def drop_differences(findings: dict, samples: dict, metric: str = "roc_auc") -> tuple[str | None, dict]:
    """The model whose ``metric`` drops least under the shift, and each other model's drop minus
    that one's with its interval (above zero: the other degrades more, beyond the noise).
    (None, {}) when no model has a drop (a test set with one class)."""
    drops = {kind: row[f"{metric}_drop"]["value"] for kind, row in findings.items()
             if np.isfinite(row[f"{metric}_drop"]["value"])}
    if not drops:
        return None, {}
    least = min(drops, key=drops.get)

    def drop_samples(kind):
        before, after = samples[kind][metric]
        return before - after

    return least, {kind: evaluate.estimate(drops[kind] - drops[least],
                                           drop_samples(kind) - drop_samples(least))
                   for kind in drops if kind != least}
