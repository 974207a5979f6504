"""Training and scoring 05's purchase models from the Parquet shards of ``utils.data.partitioned``
through ``tf.data``: one row group of one shard at a time, so memory holds a row group and a
batch, never the log.

A session row carries its first ``max_k`` input events and its label; as in 05, the model
answers after every event and is trained on the session's label after each of its decision
points (events 1 .. n_points), class-balanced, with the loss summed over events.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import tensorflow as tf
from sklearn.metrics import roc_auc_score

from utils.models.train import undo_balance

IDS = ("event_type", "category", "brand")


def _session_batches(folder: Path, split: str, batch_size: int, summary: dict,
                     seed: int | None) -> Iterator[dict]:
    """Batches of one split's sessions as NumPy arrays: shards and their row groups in a random
    order and rows shuffled within a row group when ``seed`` is given, else in stored order."""
    rng = np.random.default_rng(seed) if seed is not None else None
    files = sorted((folder / "sessions").glob("*.parquet"))
    max_k, n_numeric = summary["max_k"], summary["n_numeric"]
    mean, std = np.asarray(summary["user_mean"], np.float32), np.asarray(summary["user_std"], np.float32)
    columns = ["split", "label", "n_points", *[f"seq_{n}" for n in (*IDS, "numeric")],
               *summary["user_columns"]]
    for i in rng.permutation(len(files)) if rng is not None else range(len(files)):
        shard = pq.ParquetFile(files[i])
        groups = np.arange(shard.num_row_groups)
        for g in rng.permutation(groups) if rng is not None else groups:
            table = shard.read_row_group(int(g), columns=columns)
            table = table.filter(pc.equal(table.column("split").cast("string"), split))
            if table.num_rows == 0:
                continue
            n = table.num_rows
            rows = rng.permutation(n) if rng is not None else np.arange(n)
            data = {name: table.column(f"seq_{name}").combine_chunks().flatten().to_numpy()
                    .reshape(n, max_k)[rows].astype(np.int32) for name in IDS}
            data["numeric"] = (table.column("seq_numeric").combine_chunks().flatten().to_numpy()
                               .reshape(n, max_k, n_numeric)[rows].astype(np.float32))
            user = np.column_stack([table.column(c).to_numpy() for c in summary["user_columns"]])
            data["user"] = ((user.astype(np.float32) - mean) / std)[rows]
            data["label"] = table.column("label").to_numpy().astype(np.int64)[rows]
            data["n_points"] = table.column("n_points").to_numpy().astype(np.int64)[rows]
            for start in range(0, n, batch_size):
                yield {name: values[start:start + batch_size] for name, values in data.items()}


def class_weights(summary: dict) -> tuple[np.ndarray, float]:
    """Weights giving both classes of training decision points equal total weight (as
    train.balance_weights), and the ratio that undoes them."""
    positive = summary["buying_points_train"] / summary["points_train"]
    weights = np.array([0.5 / (1 - positive), 0.5 / positive], np.float32)
    return weights, float(weights[1] / weights[0])


def session_dataset(folder: str | Path, split: str, batch_size: int, summary: dict,
                    seed: int | None = None, targets: bool = True) -> tf.data.Dataset:
    """A tf.data pipeline over one split's sessions: inputs, and with ``targets`` the session's
    label after every event and its weight (the class weight on decision points, 0 elsewhere,
    scaled like train.training_dataset's so the summed loss is on the scale of a mean)."""
    folder, max_k = Path(folder), summary["max_k"]
    weights, _ = class_weights(summary)
    points_per_session = summary["points_train"] / max(summary["sessions_train"], 1)
    n_user = len(summary["user_columns"])

    def generate():
        for batch in _session_batches(folder, split, batch_size, summary, seed):
            inputs = {name: batch[name] for name in (*IDS, "numeric", "user")}
            if not targets:
                yield inputs
                continue
            on_point = np.arange(max_k)[None, :] < batch["n_points"][:, None]
            y = np.repeat(np.eye(2, dtype=np.float32)[batch["label"]][:, None, :], max_k, axis=1)
            w = on_point * weights[batch["label"]][:, None] / (batch_size * points_per_session)
            yield inputs, y, w.astype(np.float32)

    spec = {name: tf.TensorSpec((None, max_k), tf.int32) for name in IDS}
    spec["numeric"] = tf.TensorSpec((None, max_k, summary["n_numeric"]), tf.float32)
    spec["user"] = tf.TensorSpec((None, n_user), tf.float32)
    signature = (spec, tf.TensorSpec((None, max_k, 2), tf.float32),
                 tf.TensorSpec((None, max_k), tf.float32)) if targets else spec
    return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2)


def predict_points(model: keras.Model, folder: str | Path, split: str, summary: dict,
                   batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(labels, purchase probabilities) of every decision point of ``split``: the model's
    answer after event k of each session, for k = 1 .. its n_points, at the real base rate."""
    _, ratio = class_weights(summary)
    labels, probs = [], []
    for batch in _session_batches(Path(folder), split, batch_size, summary, None):
        out = model.predict_on_batch({name: batch[name] for name in (*IDS, "numeric", "user")})[..., 1]
        on_point = np.arange(out.shape[1])[None, :] < batch["n_points"][:, None]
        probs.append(np.asarray(out)[on_point])
        labels.append(np.repeat(batch["label"], batch["n_points"]))
    return np.concatenate(labels), undo_balance(np.concatenate(probs), ratio)


def fit_from_shards(build_model, kind: str, folder: str | Path, summary: dict, epochs: int,
                    batch_size: int = 512, seed: int = 0, **config) -> dict:
    """Train ``build_model(kind, vocab_sizes, n_numeric, n_user_features, **config)`` for a fixed
    number of ``epochs`` on the training sessions; returns the model, the validation ROC-AUC
    after each epoch and the seconds spent training and scoring."""
    keras.utils.set_random_seed(seed)
    model = build_model(kind, summary["vocab_sizes"], summary["n_numeric"], len(summary["user_columns"]),
                        **config)
    curve, train_s, score_s = [], 0.0, 0.0
    for epoch in range(epochs):
        started = time.perf_counter()
        with warnings.catch_warnings():  # a generator's length is unknown: Keras warns at its end
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            model.fit(session_dataset(folder, "train", batch_size, summary, seed=seed + epoch),
                      epochs=1, verbose=0)
        train_s += time.perf_counter() - started
        started = time.perf_counter()
        labels, prob = predict_points(model, folder, "validation", summary)
        curve.append(float(roc_auc_score(labels, prob)))
        score_s += time.perf_counter() - started
    return {"model": model, "validation_auc": curve, "train_seconds": train_s, "score_seconds": score_s}
