"""Training for the live purchase task with an equal search for every model, and predictions.

The task is live (utils.data.sessions.decision_points): a session is scored after each of its
first events, seeing only the events so far. A sequence model reads a session once and answers
after every event; a classical baseline reads one order-free summary row per decision point.
Both are trained on the same decision points with the same class-balancing weights, chosen on
the same validation points, and scored on the same test points.

The models themselves are not defined here: the study is given a function that builds each
sequence model and one that builds each classical baseline (notebook 05 shows both), and this
module does the rest: the search, the seeds, the batches, the logs and the predictions.

- **Search.** Optuna, with the same sampler (TPE), pruner (median, after each epoch) and number
  of trials for every model; the sequence models draw from ``SEARCH_SPACE`` and every fit has
  the same epoch cap and early stopping on validation ROC-AUC. Trials may train on a subset of
  the training points (the most recent days); the chosen configuration is then trained with
  each seed on all of them.
- **Resumable.** Every finished trial and fit is saved under ``state_dir`` as it ends; a rerun
  skips what is done, so a long study can run in pieces.
- **Batches.** Sessions stream through ``tf.data`` bucketed by length, so a batch is only as long
  as its longest session. Classes are balanced with sample weights during training, and the
  predicted probabilities are corrected back to the real base rate afterwards.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.metrics import log_loss, roc_auc_score

from utils.core.config import one_openmp_thread
from utils.core.files import write_json_atomic

SEQUENCE_INPUTS = ("event_type", "category", "brand", "numeric")
BUCKETS = (4, 8, 16, 32)

# what every sequence model's search draws from: units, depth, dropout, learning rate, batch size
SEARCH_SPACE = {
    "units": [32, 64, 128],
    "n_layers": [1, 2],
    "dropout": [0.0, 0.1, 0.2, 0.3],
    "learning_rate": [3e-4, 1e-3, 3e-3, 1e-2],
    "batch_size": [128, 256, 512, 1024],
}


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


def _bucketed(arrays, user, sessions, batch_size, seed=None, targets=None):
    """Batches of sessions grouped by length, each bucket cut to its longest allowed length.

    ``targets`` (label, weight), one of each per session of ``sessions``, add per-event targets:
    the session's label after every event, weighted where there is an event and 0 on padding.
    Returns (dataset, order): ``order`` is the position in ``sessions`` of each element as the
    dataset yields it (when ``seed`` is None, i.e. not shuffled). Everything is sliced once in
    NumPy, so the pipeline does no per-session work while training.
    """
    length = arrays["length"][sessions]
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
        rows = sessions[members]
        elements = [{k: arrays[k][rows, :edge] for k in SEQUENCE_INPUTS}]
        if user is not None:
            elements[0]["user"] = user[rows].astype(np.float32)
        if targets is not None:
            label, weight = targets[0][members], targets[1][members]
            on_event = np.arange(edge)[None, :] < length[members, None]
            elements.append(np.repeat(np.eye(2, dtype=np.float32)[label][:, None, :], edge, axis=1))
            elements.append((on_event * weight[:, None]).astype(np.float32))
        part = tf.data.Dataset.from_tensor_slices(tuple(elements) if targets is not None else elements[0])
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


def training_dataset(data: dict, points: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffled, length-bucketed batches of the sessions holding ``points``: (inputs, the label
    after each event, its weight). An event's weight is the class-balancing weight of its
    decision point, divided by the mean number of points in a batch, so that a model whose loss
    is summed over events (``build_sequence_model``'s) weighs every decision point alike and its
    loss per batch is on the scale of a mean."""
    labels = data["labels"][points]
    sessions, inverse = np.unique(data["point_session"][points], return_inverse=True)
    weights = balance_weights(labels)[0] / (batch_size * len(points) / len(sessions))
    # a session's label is the same at every decision point
    label = np.zeros(len(sessions), np.int64)
    label[inverse] = labels
    weight = np.zeros(len(sessions), np.float32)
    weight[inverse] = weights
    # a session is trained after every event: all its points must be in, or none
    if not np.array_equal(np.bincount(inverse), np.bincount(data["point_session"])[sessions]):
        raise ValueError("training points must hold every decision point of their sessions")
    dataset, _ = _bucketed(data["arrays"], data["user"], sessions, batch_size, seed, (label, weight))
    return dataset


def predict(model, data: dict, points: np.ndarray, ratio: float, batch_size: int = 1024) -> np.ndarray:
    """Purchase probabilities at decision points ``points``, in that order."""
    sessions, inverse = np.unique(data["point_session"][points], return_inverse=True)
    dataset, order = _bucketed(data["arrays"], data["user"], sessions, batch_size)
    by_event = np.full((len(sessions), data["arrays"]["event_type"].shape[1]), np.nan)
    start = 0
    for batch in dataset:  # batches differ in length, so each is written into place as it comes
        out = model.predict_on_batch(batch)[..., 1]
        by_event[order[start:start + len(out)], :out.shape[1]] = out
        start += len(out)
    return undo_balance(by_event[inverse, data["point_k"][points] - 1], ratio)


class ValidationAUC(keras.callbacks.Callback):
    """Adds val_auc and val_log_loss (on real-base-rate probabilities, over the validation
    decision points) to each epoch's logs, and reports val_auc to an Optuna trial, whose pruner
    may end the fit."""

    def __init__(self, data, points, ratio, trial=None):
        super().__init__()
        self.data, self.points, self.ratio, self.trial = data, points, ratio, trial
        self.labels = data["labels"][points]
        self.pruned = False

    def on_epoch_end(self, epoch, logs=None):
        prob = predict(self.model, self.data, self.points, self.ratio)
        logs["val_auc"] = roc_auc_score(self.labels, prob)
        logs["val_log_loss"] = log_loss(self.labels, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])
        if self.trial is not None:  # the pruner compares this with earlier trials at the same epoch
            self.trial.report(logs["val_auc"], epoch)
            if self.trial.should_prune():
                self.pruned = self.model.stop_training = True


@dataclass
class FitResult:
    model: object  # the trained Keras model or scikit-learn estimator
    config: dict
    seed: int
    history: dict | None  # learning curves (sequence models)
    best_val_auc: float
    seconds: float
    points_per_second: float  # training decision points per second of training
    hit_epoch_cap: bool | None  # ran all epochs without early stopping (None for baselines)
    pruned: bool = False


def fit_sequence_model(build_model, kind: str, config: dict, data: dict, seed: int, epochs: int,
                       patience: int, train_points=None, trial=None, log_dir: str | None = None) -> FitResult:
    """Train ``build_model(kind, vocab_sizes, n_numeric, n_user_features, **config)`` (compiled,
    one 2-way softmax per event; ``config`` may also hold ``batch_size``) on ``train_points``
    (all training points by default); early stopping on validation ROC-AUC restores the best
    epoch."""
    keras.utils.set_random_seed(seed)
    config = dict(config)
    batch_size = config.pop("batch_size", 512)
    train = data["train"] if train_points is None else train_points
    _, ratio = balance_weights(data["labels"][train])
    user = data["user"]
    model = build_model(kind, data["vocab_sizes"], data["arrays"]["numeric"].shape[-1],
                        0 if user is None else user.shape[1], **config)
    validation = ValidationAUC(data, data["validation"], ratio, trial)
    stopping = keras.callbacks.EarlyStopping("val_auc", mode="max", patience=patience,
                                             restore_best_weights=True)
    callbacks = [validation, stopping]
    if log_dir:
        callbacks.append(keras.callbacks.TensorBoard(log_dir, histogram_freq=0, write_graph=False))
    started = time.perf_counter()
    history = model.fit(training_dataset(data, train, batch_size, seed), epochs=epochs,
                        callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - started
    curves = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    n_epochs = len(curves["loss"])
    capped = n_epochs == epochs and stopping.stopped_epoch == 0 and not validation.pruned
    return FitResult(model, {**config, "batch_size": batch_size}, seed, curves,
                     float(max(curves["val_auc"])), seconds, len(train) * n_epochs / seconds,
                     hit_epoch_cap=capped, pruned=validation.pruned)


def fit_balanced(model, x: np.ndarray, y: np.ndarray):
    """Fit a scikit-learn model, or a pipeline ending in one, with class-balancing weights."""
    weights, _ = balance_weights(y)
    if hasattr(model, "steps"):  # a pipeline hands the weights to its last step by name
        return model.fit(x, y, **{f"{model.steps[-1][0]}__sample_weight": weights})
    return model.fit(x, y, sample_weight=weights)


def fit_baseline(build_baseline, kind: str, config: dict, data: dict, seed: int,
                 train_points=None) -> FitResult:
    """Fit ``build_baseline(kind, seed, **config)`` on the summaries of ``train_points``."""
    train = data["train"] if train_points is None else train_points
    x, labels = data["aggregates"], data["labels"]
    started = time.perf_counter()
    with one_openmp_thread():
        model = fit_balanced(build_baseline(kind, seed, **config), x[train], labels[train])
    seconds = time.perf_counter() - started
    _, ratio = balance_weights(labels[train])
    auc = roc_auc_score(labels[data["validation"]], predict_baseline(model, data, data["validation"], ratio))
    return FitResult(model, dict(config), seed, None, float(auc), seconds, len(train) / seconds, None)


def predict_baseline(model, data: dict, points: np.ndarray, ratio: float) -> np.ndarray:
    with one_openmp_thread():
        return undo_balance(model.predict_proba(data["aggregates"][points])[:, 1], ratio)


# ---------------------------------------------------------------------------------------------
# The study: the same search for every model, then several seeds of the chosen configuration

@dataclass
class ModelResult:
    kind: str
    trials: list  # [{"config", "pruned", "validation_auc" (None when pruned), "hit_epoch_cap"}]
    best_config: dict
    val_auc: list  # per seed, for the chosen configuration
    seconds: list  # training time per seed
    points_per_second: list
    history: dict | None  # learning curves of seed 0 (sequence models)
    epoch_cap_hits: list  # per fit (trials not pruned, then seeds): ran to the epoch cap; None for baselines


def run_study(data: dict, kinds: list[str], n_trials: int, n_seeds: int, epochs: int, patience: int,
              *, state_dir, build_model, first_config: dict | None = None, build_baseline=None,
              baseline_space: dict | None = None, search_seed: int = 0, log_dir: str | None = None):
    """Search each model's configuration on validation with ``n_trials`` Optuna trials, train
    the best with ``n_seeds`` seeds, and return {kind: ModelResult}; the predictions on the
    validation and test points are saved in ``state_dir`` (see ``read_predictions``).

    A kind in ``baseline_space`` ({kind: {setting: [choices]}}) is a classical baseline:
    ``build_baseline(kind, seed, **config)`` returns the unfitted scikit-learn model. Every other
    kind is a sequence model: its trials start from ``first_config`` and draw from SEARCH_SPACE,
    and ``build_model(kind, vocab_sizes, n_numeric, n_user_features, **config)`` returns the
    compiled Keras model that is trained. ``data["search"]`` (training points) is what trials
    train on; all training points by default.
    """
    from tqdm.auto import tqdm

    baseline_space = baseline_space or {}
    if baseline_space and build_baseline is None:
        raise ValueError(f"baselines {sorted(baseline_space)} need build_baseline(kind, seed, **config)")
    outside = {k: v for k, v in (first_config or {}).items() if v not in SEARCH_SPACE.get(k, [v])}
    if outside or set(first_config or SEARCH_SPACE) != set(SEARCH_SPACE):
        raise ValueError(f"first_config {first_config} must set each of {sorted(SEARCH_SPACE)} to one of "
                         f"train.SEARCH_SPACE's choices{f'; not so for {outside}' if outside else ''}")
    results = {}
    progress = tqdm(total=len(kinds) * (n_trials + n_seeds), desc="training", unit="fit")
    for kind in kinds:
        is_baseline = kind in baseline_space
        folder = Path(state_dir) / kind
        folder.mkdir(parents=True, exist_ok=True)

        def fit(config, seed, train_points=None, trial=None, kind=kind, is_baseline=is_baseline):
            if is_baseline:
                return fit_baseline(build_baseline, kind, config, data, seed, train_points)
            name = f"{kind}_seed{seed}_" + "-".join(f"{v:g}" for v in config.values())
            return fit_sequence_model(build_model, kind, config, data, seed, epochs, patience, train_points,
                                      trial, f"{log_dir}/{name}" if log_dir else None)

        space = baseline_space[kind] if is_baseline else SEARCH_SPACE
        study = _search(folder, space, None if is_baseline else first_config, n_trials, search_seed,
                        lambda config, trial: fit(config, 0, data.get("search"), trial), progress, kind)
        best = study.best_trial.params
        fits = [_seed_fit(folder, seed, best, fit, data, progress, kind) for seed in range(n_seeds)]
        trials = [{"config": t.params, "pruned": t.state.name == "PRUNED",
                   "validation_auc": None if t.state.name == "PRUNED" else t.value,
                   "hit_epoch_cap": t.user_attrs.get("hit_epoch_cap")} for t in _finished(study)]
        results[kind] = ModelResult(kind, trials, best, [f["val_auc"] for f in fits],
                                    [f["seconds"] for f in fits], [f["points_per_second"] for f in fits],
                                    fits[0]["history"],
                                    [t["hit_epoch_cap"] for t in trials if not t["pruned"]]
                                    + [f["hit_epoch_cap"] for f in fits])
    progress.close()
    return results


def _finished(study):
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return [t for t in study.trials if t.state in done]


def _search(folder: Path, space: dict, first: dict | None, n_trials: int, seed: int, fit, progress, kind):
    """The Optuna search of one model, stored in folder/search.journal: a rerun continues it.

    Trial n draws with a sampler seeded ``seed + n``, so the draws do not depend on where a run
    was interrupted, and models with the same space get the same random draws (TPE draws at
    random until it has ten trials to learn from). A trial left running by an interrupted run
    is marked failed and run again.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(folder / "search.journal")))
    study = optuna.create_study(study_name=kind, storage=storage, load_if_exists=True, direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    for stale in study.get_trials(states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
    if first and not _finished(study) and not study.get_trials(states=(optuna.trial.TrialState.WAITING,)):
        study.enqueue_trial(first)

    def objective(trial):
        config = {name: trial.suggest_categorical(name, choices) for name, choices in space.items()}
        progress.set_postfix_str(f"{kind} trial {trial.number + 1}/{n_trials}")
        result = fit(config, trial)
        trial.set_user_attr("hit_epoch_cap", result.hit_epoch_cap)
        progress.update()
        if result.pruned:
            raise optuna.TrialPruned()
        return result.best_val_auc

    progress.update(min(len(_finished(study)), n_trials))
    while (done := len(_finished(study))) < n_trials:
        study.sampler = optuna.samplers.TPESampler(seed=seed + done)
        study.optimize(objective, n_trials=1)
    return study


def _seed_fit(folder: Path, seed: int, config: dict, fit, data: dict, progress, kind) -> dict:
    """Train the chosen configuration with one seed on all training points, save its summary,
    model and predictions in folder/seed<seed>.*, or read them when a fit of that configuration
    is already there."""
    import joblib
    import pandas as pd

    summary_path = folder / f"seed{seed}.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary["config"] == config:
            progress.update()
            return summary
    progress.set_postfix_str(f"{kind} seed {seed + 1}")
    result = fit(config, seed)
    _, ratio = balance_weights(data["labels"][data["train"]])
    rows = []
    for split in ("validation", "test"):
        points = data[split]
        prob = (predict_baseline(result.model, data, points, ratio) if result.history is None
                else predict(result.model, data, points, ratio))
        rows.append(pd.DataFrame({"model": kind, "seed": seed, "split": split, "point": points,
                                  "prob": prob}))
    pd.concat(rows, ignore_index=True).to_parquet(folder / f"seed{seed}.parquet")
    if result.history is None:
        joblib.dump(result.model, folder / f"seed{seed}.joblib")
    else:
        result.model.save(folder / f"seed{seed}.keras")
    summary = {"config": config, "val_auc": result.best_val_auc, "seconds": result.seconds,
               "points_per_second": result.points_per_second, "history": result.history,
               "hit_epoch_cap": result.hit_epoch_cap}
    write_json_atomic(summary_path, summary)  # written last: it marks the fit as done
    progress.update()
    return summary


def read_predictions(state_dir, results: dict):
    """The saved validation and test predictions of every model and seed of a study: a frame
    with model, seed, split, point (row of the decision-point table) and prob."""
    import pandas as pd

    return pd.concat([pd.read_parquet(Path(state_dir) / kind / f"seed{seed}.parquet")
                      for kind, r in results.items() for seed in range(len(r.val_auc))], ignore_index=True)


def load_model(state_dir, kind: str, seed: int):
    """A trained model of a study: Keras for the sequence models, scikit-learn for baselines."""
    folder = Path(state_dir) / kind
    if (folder / f"seed{seed}.keras").is_file():
        return keras.models.load_model(folder / f"seed{seed}.keras")
    import joblib

    return joblib.load(folder / f"seed{seed}.joblib")


def state_key(files, *definitions, **settings) -> str:
    """A short fingerprint of what a study's saved trials and fits depend on: the bytes of its
    input ``files``, this module's code, the source of its model-building functions (or any
    other object's repr) and its ``settings``. A change to any of them gives a new key, so stale
    fits are never reused."""
    import hashlib
    import inspect

    digest = hashlib.sha256()
    for path in files:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    digest.update(Path(__file__).read_bytes())  # the training code itself
    for item in definitions:
        digest.update((inspect.getsource(item) if callable(item) else repr(item)).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]
