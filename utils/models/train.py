"""Training with an equal tuning budget for every model, and predictions for evaluation.

The models themselves are not defined here: the study is given a function that builds each
sequence model and one that builds each classical baseline (notebook 05 shows both), and this
module does the rest: the search, the seeds, the batches, the logs and the predictions.

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

SEQUENCE_INPUTS = ("event_type", "category", "brand", "numeric")
BUCKETS = (4, 8, 16, 32)

# the search space every sequence model draws its configurations from (same draws for every model)
SEARCH_SPACE = {
    "units": [32, 64, 128],
    "dropout": [0.0, 0.2, 0.4],
    "l2": [0.0, 1e-5, 1e-4],
    "learning_rate": [1e-3, 3e-3],
}


def sample_configs(n_trials: int, seed: int, first: dict | None = None,
                   space: dict | None = None) -> list[dict]:
    """``n_trials`` configurations drawn from ``space`` ({setting: [choices]}, SEARCH_SPACE by
    default); ``first`` (e.g. the classic configuration) replaces the first draw."""
    rng = np.random.default_rng(seed)
    space = SEARCH_SPACE if space is None else space
    configs = [{k: v[rng.integers(len(v))] for k, v in space.items()} for _ in range(n_trials)]
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
    hit_epoch_cap: bool  # ran all ``epochs`` without early stopping: it may be undertrained


def fit_sequence_model(build_model, kind: str, config: dict, data: dict, seed: int, epochs: int,
                       patience: int, batch_size: int, log_dir: str | None = None) -> FitResult:
    """Train the model ``build_model(kind, vocab_sizes, n_numeric, n_user_features, **config)``
    returns (compiled, with a 2-way softmax output); early stopping on validation ROC-AUC
    restores the best epoch."""
    keras.utils.set_random_seed(seed)
    arrays, user, labels = data["arrays"], data["user"], data["labels"]
    train, val = data["train"], data["validation"]
    _, ratio = balance_weights(labels[train])
    model = build_model(kind, data["vocab_sizes"], arrays["numeric"].shape[-1],
                        0 if user is None else user.shape[1], **config)
    stopping = keras.callbacks.EarlyStopping("val_auc", mode="max", patience=patience,
                                             restore_best_weights=True)
    callbacks = [ValidationAUC(arrays, user, labels, val, ratio), stopping]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir, histogram_freq=0, write_graph=False))
    started = time.perf_counter()
    history = model.fit(training_dataset(arrays, user, labels, train, batch_size, seed),
                        epochs=epochs, callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - started
    n_epochs = len(history.history["loss"])
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    return FitResult(model, config, seed, curves, float(max(curves["val_auc"])), seconds,
                     len(train) * n_epochs / seconds, hit_epoch_cap=stopping.stopped_epoch == 0)


# ---------------------------------------------------------------------------------------------
# Classical baselines on order-free session aggregates (the same events, without their order)


def fit_balanced(model, x: np.ndarray, y: np.ndarray):
    """Fit a scikit-learn model, or a pipeline ending in one, with class-balancing weights."""
    weights, _ = balance_weights(y)
    if hasattr(model, "steps"):  # a pipeline hands the weights to its last step by name
        return model.fit(x, y, **{f"{model.steps[-1][0]}__sample_weight": weights})
    return model.fit(x, y, sample_weight=weights)


# ---------------------------------------------------------------------------------------------
# The study: the same tuning budget for every model, then several seeds of the chosen setting

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
    epoch_cap_hits: list  # per fit (trials, then seeds): ran to the epoch cap; None for baselines


def run_study(data: dict, kinds: list[str], n_trials: int, n_seeds: int, epochs: int, patience: int,
              batch_size: int, *, build_model, first_config: dict | None = None, build_baseline=None,
              baseline_space: dict | None = None, search_seed: int = 0, log_dir: str | None = None):
    """Tune each model on validation with ``n_trials`` configurations, retrain the best with
    ``n_seeds`` seeds, and return ({kind: ModelResult}, predictions on validation and test).

    A kind in ``baseline_space`` ({kind: {setting: [choices]}}) is a classical baseline: its
    configurations are drawn from there and ``build_baseline(kind, seed, **config)`` returns the
    unfitted scikit-learn model. Every other kind is a sequence model: its configurations are
    ``first_config`` and then draws from SEARCH_SPACE, and ``build_model(kind, vocab_sizes,
    n_numeric, n_user_features, **config)`` returns the compiled Keras model that is trained.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    baseline_space = baseline_space or {}
    if baseline_space and build_baseline is None:
        raise ValueError(f"baselines {sorted(baseline_space)} need build_baseline(kind, seed, **config)")
    labels, train, splits = data["labels"], data["train"], ("validation", "test")
    _, ratio = balance_weights(labels[train])
    results, rows = {}, []
    progress = tqdm(total=len(kinds) * (n_trials + n_seeds - 1), desc="training", unit="fit")
    for kind in kinds:
        is_baseline = kind in baseline_space
        builder = build_baseline if is_baseline else build_model
        configs = (sample_configs(n_trials, search_seed, space=baseline_space[kind]) if is_baseline
                   else sample_configs(n_trials, search_seed, first=first_config))
        fit_args = (data, epochs, patience, batch_size, log_dir, ratio)
        fits = []
        for i, config in enumerate(configs):
            progress.set_postfix_str(f"{kind} trial {i + 1}/{n_trials}")
            fits.append(_fit(builder, is_baseline, kind, config, 0, *fit_args))
            progress.update()
        trials = [(f["config"], f["val_auc"]) for f in fits]
        best = fits[int(np.argmax([f["val_auc"] for f in fits]))]
        seeded = [best]
        for seed in range(1, n_seeds):
            progress.set_postfix_str(f"{kind} seed {seed + 1}/{n_seeds}")
            seeded.append(_fit(builder, is_baseline, kind, best["config"], seed, *fit_args))
            progress.update()
        for seed, fit in enumerate(seeded):
            for split in splits:
                rows.append(pd.DataFrame({"model": kind, "seed": seed, "split": split,
                                          "session": data[split], "prob": fit["predict"](data[split])}))
        results[kind] = ModelResult(kind, trials, best["config"], [f["val_auc"] for f in seeded],
                                    [f["seconds"] for f in seeded],
                                    [f["sessions_per_second"] for f in seeded], best["history"],
                                    [f["model"] for f in seeded],
                                    [f["hit_epoch_cap"] for f in fits + seeded[1:]])
    progress.close()
    return results, pd.concat(rows, ignore_index=True)


def _fit(builder, is_baseline, kind, config, seed, data, epochs, patience, batch_size, log_dir,
         ratio) -> dict:
    """One training run of any model kind, in a common shape."""
    labels, train, val = data["labels"], data["train"], data["validation"]
    if is_baseline:
        x = data["aggregates"]
        started = time.perf_counter()
        with one_openmp_thread():
            model = fit_balanced(builder(kind, seed, **config), x[train], labels[train])
        seconds = time.perf_counter() - started

        def predict_split(index):
            with one_openmp_thread():
                return undo_balance(model.predict_proba(x[index])[:, 1], ratio)

        return {"config": config, "model": model, "predict": predict_split, "history": None,
                "val_auc": float(roc_auc_score(labels[val], predict_split(val))),
                "seconds": seconds, "sessions_per_second": len(train) / seconds,
                "hit_epoch_cap": None}
    name = f"{kind}_seed{seed}_" + "-".join(str(v) for v in config.values())
    run_dir = f"{log_dir}/{name}" if log_dir else None
    result = fit_sequence_model(builder, kind, config, data, seed, epochs, patience, batch_size, run_dir)
    return {"config": config, "model": result.model, "history": result.history,
            "predict": lambda index: predict(result.model, data["arrays"], data["user"], index, ratio),
            "val_auc": result.best_val_auc, "seconds": result.seconds,
            "sessions_per_second": result.sessions_per_second, "hit_epoch_cap": result.hit_epoch_cap}

