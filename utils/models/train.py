"""Training with an equal tuning budget for every model, and predictions for evaluation.

Sequence models stream through ``tf.data``: sessions are bucketed by length so a batch is only
as long as its longest session, and the whole input pipeline runs in TensorFlow (no Python per
batch). Classes are balanced with sample weights during training, and the predicted
probabilities are corrected back to the real base rate, so log loss and calibration stay honest.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import log_loss, roc_auc_score

from utils.core.config import one_openmp_thread
from utils.data.features import NUMERIC_FEATURES
from utils.models.sequence import build_sequence_model

SEQUENCE_INPUTS = ("event_type", "category", "brand", "numeric")
BUCKETS = (4, 8, 16, 32)

# the search space every model draws its configurations from (same draws for every model)
SEARCH_SPACE = {
    "units": [32, 64, 128],
    "dropout": [0.0, 0.2, 0.4],
    "l2": [0.0, 1e-5, 1e-4],
    "learning_rate": [1e-3, 3e-3],
}


def sample_configs(n_trials: int, seed: int, first: dict | None = None) -> list[dict]:
    """``n_trials`` configurations drawn from SEARCH_SPACE; ``first`` (e.g. the classic
    configuration) replaces the first draw."""
    rng = np.random.default_rng(seed)
    configs = [{k: v[rng.integers(len(v))] for k, v in SEARCH_SPACE.items()} for _ in range(n_trials)]
    if first and configs:
        configs[0] = dict(first)
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in c.items()} for c in configs]


def balance_weights(labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-sample weights giving both classes equal total weight, and the positive/negative
    weight ratio needed to undo them."""
    pos = labels.mean()
    w_pos, w_neg = 0.5 / pos, 0.5 / (1 - pos)
    return np.where(labels == 1, w_pos, w_neg).astype(np.float32), w_pos / w_neg


def undo_balance(prob: np.ndarray, ratio: float) -> np.ndarray:
    """Map a probability learnt under class weights back to the real base rate (odds / ratio)."""
    odds = prob / np.clip(1 - prob, 1e-7, None) / ratio
    return odds / (1 + odds)


def _bucketed(arrays, user, index, extras=(), batch_size=512, seed=None):
    """Batches of sessions grouped by length, each bucket cut to its longest allowed length.

    Returns (dataset, order): ``order`` is the position in ``index`` of each element as the
    dataset yields it (when ``seed`` is None, i.e. not shuffled). Everything is sliced once in
    NumPy, so the pipeline does no per-session work while training.
    """
    length = arrays["length"][index]
    if (length < 1).any():
        raise ValueError(f"{int((length < 1).sum())} sessions have no events; every session needs "
                         "at least one input event (see utils.data.sessions.purchase_task)")
    max_len = arrays["event_type"].shape[1]
    edges = [b for b in BUCKETS if b < max_len] + [max_len]
    parts, order, n_batches, low = [], [], 0, 0
    for edge in edges:
        members = np.flatnonzero((length > low) & (length <= edge))
        low = edge
        if len(members) == 0:
            continue
        rows = index[members]
        features = {k: arrays[k][rows, :edge] for k in SEQUENCE_INPUTS}
        if user is not None:
            features["user"] = user[rows].astype(np.float32)
        part = tf.data.Dataset.from_tensor_slices((features, *(e[members] for e in extras)))
        if seed is not None:
            part = part.shuffle(len(members), seed=seed, reshuffle_each_iteration=True)
        parts.append(part.batch(batch_size))
        order.append(members)
        n_batches += -(-len(members) // batch_size)
    dataset = parts[0]
    for part in parts[1:]:
        dataset = dataset.concatenate(part)
    if seed is not None:  # mix the buckets: batches arrive in random order, each of one length
        dataset = dataset.shuffle(n_batches, seed=seed, reshuffle_each_iteration=True)
    return dataset.prefetch(tf.data.AUTOTUNE), np.concatenate(order)


def training_dataset(arrays, user, labels, index, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled, length-bucketed batches of (inputs, one-hot label, balancing weight)."""
    weights, _ = balance_weights(labels[index])
    onehot = np.eye(2, dtype=np.float32)[labels[index]]
    dataset, _ = _bucketed(arrays, user, index, (onehot, weights), batch_size, seed)
    return dataset


def predict(model, arrays, user, index, ratio: float, batch_size: int = 1024) -> np.ndarray:
    """Purchase probabilities for sessions ``index``, in that order."""
    dataset, order = _bucketed(arrays, user, index, batch_size=batch_size)
    prob = np.empty(len(index))
    prob[order] = model.predict(dataset.map(lambda features: features), verbose=0)[:, 1]
    return undo_balance(prob, ratio)


class ValidationAUC(keras.callbacks.Callback):
    """Adds val_auc and val_log_loss (on real-base-rate probabilities) to each epoch's logs."""

    def __init__(self, arrays, user, labels, index, ratio):
        super().__init__()
        self.args = (arrays, user, index, ratio)
        self.labels = labels[index]

    def on_epoch_end(self, epoch, logs=None):
        prob = predict(self.model, *self.args)
        logs["val_auc"] = roc_auc_score(self.labels, prob)
        logs["val_log_loss"] = log_loss(self.labels, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])


@dataclass
class FitResult:
    model: keras.Model
    config: dict
    seed: int
    history: dict
    best_val_auc: float
    seconds: float
    sessions_per_second: float


def fit_sequence_model(kind: str, config: dict, data: dict, seed: int, epochs: int, patience: int,
                       batch_size: int, log_dir: str | None = None) -> FitResult:
    """Train one model; early stopping on validation ROC-AUC restores the best epoch."""
    keras.utils.set_random_seed(seed)
    arrays, user, labels = data["arrays"], data["user"], data["labels"]
    train, val = data["train"], data["validation"]
    _, ratio = balance_weights(labels[train])
    model = build_sequence_model(kind, data["vocab_sizes"], len(NUMERIC_FEATURES),
                                 0 if user is None else user.shape[1], **config)
    callbacks = [ValidationAUC(arrays, user, labels, val, ratio),
                 keras.callbacks.EarlyStopping("val_auc", mode="max", patience=patience,
                                               restore_best_weights=True)]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir, histogram_freq=0, write_graph=False))
    started = time.perf_counter()
    history = model.fit(training_dataset(arrays, user, labels, train, batch_size, seed),
                        epochs=epochs, callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - started
    n_epochs = len(history.history["loss"])
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return FitResult(model, config, seed, curves, float(max(curves["val_auc"])), seconds,
                     len(train) * n_epochs / seconds)


# ---------------------------------------------------------------------------------------------
# Classical baselines on order-free session aggregates (the same events, without their order)

CLASSICAL_SPACE = {
    "logistic": {"C": [0.01, 0.1, 1.0, 10.0]},
    "boosting": {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31, 63],
                 "l2_regularization": [0.0, 1.0]},
}


def sample_classical_configs(kind: str, n_trials: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    space = CLASSICAL_SPACE[kind]
    return [{k: (lambda v: v.item() if hasattr(v, "item") else v)(v[rng.integers(len(v))])
             for k, v in space.items()} for _ in range(n_trials)]


def fit_classical(kind: str, config: dict, x_train: np.ndarray, y_train: np.ndarray, seed: int):
    """Logistic regression (standardised inputs) or gradient-boosted trees, class-balanced."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    weights, _ = balance_weights(y_train)
    if kind == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, **config))
        return model.fit(x_train, y_train, logisticregression__sample_weight=weights)
    if kind == "boosting":
        model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed,
                                               **config)
        return model.fit(x_train, y_train, sample_weight=weights)
    raise ValueError(f"unknown classical model {kind!r}; choose logistic or boosting")


# ---------------------------------------------------------------------------------------------
# The study: the same tuning budget for every model, then several seeds of the chosen setting

# the classic LSTM setting (128 hidden units, Adam), tried first by every sequence model
CLASSIC_CONFIG = {"units": 128, "dropout": 0.0, "l2": 0.0, "learning_rate": 1e-3}


@dataclass
class ModelResult:
    kind: str
    trials: list  # [(config, validation ROC-AUC)] in the order tried
    best_config: dict
    val_auc: list  # per seed, for the chosen configuration
    seconds: list  # training time per seed
    sessions_per_second: list
    history: dict | None  # learning curves of seed 0 (sequence models)
    models: list  # the trained models, one per seed


def run_study(data: dict, kinds: list[str], n_trials: int, n_seeds: int, epochs: int, patience: int,
              batch_size: int, search_seed: int = 0, log_dir: str | None = None):
    """Tune each model on validation with ``n_trials`` configurations, retrain the best with
    ``n_seeds`` seeds, and return ({kind: ModelResult}, predictions on validation and test)."""
    import pandas as pd
    from tqdm.auto import tqdm

    labels, train, splits = data["labels"], data["train"], ("validation", "test")
    _, ratio = balance_weights(labels[train])
    results, rows = {}, []
    progress = tqdm(total=len(kinds) * (n_trials + n_seeds - 1), desc="training", unit="fit")
    for kind in kinds:
        classical = kind in CLASSICAL_SPACE
        configs = (sample_classical_configs(kind, n_trials, search_seed) if classical
                   else sample_configs(n_trials, search_seed, first=CLASSIC_CONFIG))
        fits = []
        for i, config in enumerate(configs):
            progress.set_postfix_str(f"{kind} trial {i + 1}/{n_trials}")
            fits.append(_fit(kind, config, data, 0, epochs, patience, batch_size, log_dir, ratio))
            progress.update()
        trials = [(f["config"], f["val_auc"]) for f in fits]
        best = fits[int(np.argmax([f["val_auc"] for f in fits]))]
        seeded = [best]
        for seed in range(1, n_seeds):
            progress.set_postfix_str(f"{kind} seed {seed + 1}/{n_seeds}")
            seeded.append(_fit(kind, best["config"], data, seed, epochs, patience, batch_size,
                               log_dir, ratio))
            progress.update()
        for seed, fit in enumerate(seeded):
            for split in splits:
                rows.append(pd.DataFrame({"model": kind, "seed": seed, "split": split,
                                          "session": data[split], "prob": fit["predict"](data[split])}))
        results[kind] = ModelResult(kind, trials, best["config"], [f["val_auc"] for f in seeded],
                                    [f["seconds"] for f in seeded],
                                    [f["sessions_per_second"] for f in seeded], best["history"],
                                    [f["model"] for f in seeded])
    progress.close()
    return results, pd.concat(rows, ignore_index=True)


def _fit(kind, config, data, seed, epochs, patience, batch_size, log_dir, ratio) -> dict:
    """One training run of any model kind, in a common shape."""
    labels, train, val = data["labels"], data["train"], data["validation"]
    if kind in CLASSICAL_SPACE:
        x = data["aggregates"]
        started = time.perf_counter()
        with one_openmp_thread():
            model = fit_classical(kind, config, x[train], labels[train], seed)
        seconds = time.perf_counter() - started

        def predict_split(index):
            with one_openmp_thread():
                return undo_balance(model.predict_proba(x[index])[:, 1], ratio)

        return {"config": config, "model": model, "predict": predict_split, "history": None,
                "val_auc": float(roc_auc_score(labels[val], predict_split(val))),
                "seconds": seconds, "sessions_per_second": len(train) / seconds}
    name = f"{kind}_seed{seed}_" + "-".join(str(v) for v in config.values())
    run_dir = f"{log_dir}/{name}" if log_dir else None
    result = fit_sequence_model(kind, config, data, seed, epochs, patience, batch_size, run_dir)
    return {"config": config, "model": result.model, "history": result.history,
            "predict": lambda index: predict(result.model, data["arrays"], data["user"], index, ratio),
            "val_auc": result.best_val_auc, "seconds": result.seconds,
            "sessions_per_second": result.sessions_per_second}


def speed_report() -> str:
    """Sessions trained per second for each model (05's recorded metrics) and the run times of
    notebooks 04-06 (reports/runs.json), as printed by ``python -m utils.models.train``."""
    import json

    from utils.core import config
    from utils.core.recorder import read_metrics

    runs_path = config.reports_dir() / "runs.json"
    runs = json.loads(runs_path.read_text(encoding="utf-8"))["notebooks"] if runs_path.is_file() else {}
    lines = ["notebook                  seconds  profile"]
    total = 0.0
    for stem in ("04_feature_engineering", "05_rnn_vs_lstm", "06_evaluation"):
        if stem in runs:
            total += runs[stem]["seconds"]
            lines.append(f"{stem:24s} {runs[stem]['seconds']:8.1f}  {runs[stem]['profile']}")
    lines.append(f"{'04-06 together':24s} {total:8.1f}")
    lines.append("\nmodel      sessions/s  train s (mean)  validation ROC-AUC")
    for kind, value in read_metrics("05_rnn_vs_lstm")["metrics"].items():
        lines.append(f"{kind:10s} {value['sessions_per_second']:10.0f} {value['train_seconds_mean']:14.1f}"
                     f"  {value['validation_auc_mean']:.4f} +/- {value['validation_auc_std']:.4f}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(speed_report())
