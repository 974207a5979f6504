"""Next-item recommendation: the leave-one-out split, all-item ranking metrics, two baselines,
recurrent recommenders (GRU, LSTM, SimpleRNN) and a SASRec-style self-attention recommender.

The protocol is the one of docs/DESIGN.md#next-item-recommendation and of the published Amazon
Beauty tables:

- ``leave_one_out``: per user, the last item is the test target, the second-to-last the
  validation target, the rest the training prefix. For validation a model sees the training
  prefix; for test it sees the training prefix plus the validation item.
- ``evaluate``: every user's target is ranked against ALL items; the items already in that
  user's input sequence are excluded (score -inf through a sparse CSR mask), but the target
  itself never is, even when it repeats a history item. The rank is 0-based and ties count
  against the target (an item scoring the same as the target is ranked before it).
  HR@k = share of users with rank < k, NDCG@k = mean of 1/log2(rank + 2) for rank < k (else 0),
  MRR = mean of 1/(rank + 1), all averaged over all users.
- ``MostPopular`` and ``Markov`` (first-order item-to-next-item transitions) are the baselines;
  ``MarkovBlend`` adds the chain's log-probabilities to a trained model's logits.
- ``train_recommender`` builds a recommender with the builder it is given (by default
  ``utils.models.recommender.build_recommender``: item embedding -> GRU / LSTM / SimpleRNN ->
  a score for every item at every position; ``build_sasrec`` for ``cell="sasrec"``), trains it
  with the full-softmax cross-entropy of the next item on the real (non-padded) positions only,
  for at most ``epochs`` epochs with early stopping on validation NDCG@10 (the wall time is
  recorded, never used to stop). Batches are padded windows (one per user) or GRU4Rec's
  session-parallel mini-batches. ``NextItemScorer`` ranks with the trained model.

``python -m utils.tasks.recommend --benchmark [--dataset FILE]`` runs ``run_benchmark`` on Amazon
Beauty or on any file in the S3-Rec format (``read_sequences``): a validation search per model,
then every model over seeds, with paired bootstrap intervals against the Markov chain and the best
recurrent model; it writes reports/metrics/benchmark_recsys[_<dataset>].json.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf

from utils.core import config, crypto, files, recorder
from utils.data import collect
from utils.data.schema import ValidationError, require_columns
from utils.models.evaluate import bootstrap_weights
from utils.models.recommender import build_recommender, build_sasrec

KS = (5, 10, 20)
SELECTION_METRIC = "NDCG@10"

# --------------------------------------------------------------------------------------------
# Sequences of the simulated (or REES46) shop


def purchase_sequences(events: pd.DataFrame) -> dict[int, list[int]]:
    """{user_id: [product_id, ...]}: the products each user purchased, in time order."""
    bought = events.loc[events["event_type"] == "purchase", ["user_id", "event_time", "product_id"]]
    bought = bought.sort_values(["user_id", "event_time"], kind="stable")
    return {int(user): items.tolist()
            for user, items in bought.groupby("user_id", sort=False)["product_id"]}


def load_shop_purchases() -> tuple[dict[int, list[int]], pd.DataFrame]:
    """Purchase sequences from data/interim/clean_events.parquet (the cleaning step) and the
    product table data/interim/products.parquet (the collection step)."""
    needed = {"clean_events": ("event_time", "event_type", "product_id", "user_id"),
              "products": ("product_id",)}
    tables = {}
    for name, columns in needed.items():
        path = collect.interim_path(name)
        if not collect.has_interim(name):  # its own message: here the other dataset is a way out
            raise FileNotFoundError(
                f"{path} is missing: the collection step writes products.parquet and the cleaning "
                "step clean_events.parquet; run the notebooks that write them first "
                "(data/README.md lists which notebook writes which file), or set "
                "dataset = 'amazon_beauty'.")
        frame = collect.load_interim(name)
        require_columns(frame, columns, str(path),
                        fix="Rerun the collection and cleaning steps to rewrite it.")
        tables[name] = frame
    return purchase_sequences(tables["clean_events"]), tables["products"]


MIN_ITEMS = 3  # a training prefix, a validation item and a test item


def read_sequences(path: str | os.PathLike | None = None) -> dict[int, list[int]]:
    """{user_id: [item_id, ...]} of a file in the S3-Rec format (one shopper per line: the user
    id, then the item ids in time order, separated by whitespace; .gz, .xz and encrypted files
    too), or of Amazon Beauty (the verified public copy, or $BEAUTY_DATA_MIRROR) with
    ``path=None``.

    Raises ValidationError naming the file and the line for a token that is not an integer id, a
    user given twice, a line with fewer than 3 items (leave-one-out needs a training prefix, a
    validation and a test item) or a file without any shopper."""
    from utils.data.sources import _lines, fetch, load_amazon_beauty

    if path is None:
        found = fetch("amazon_beauty")
    else:
        found = crypto.plain_or_encrypted(path)
        if found is None:
            raise FileNotFoundError(f"{path} does not exist; pass a file in the S3-Rec format "
                                    "('user_id item_id item_id ...' per line, items in time order)")
    sequences = load_amazon_beauty(found).sequences()  # token errors and repeated users, by line
    if not sequences:
        raise ValidationError(f"{found}: no shopper in the file; expected one line per shopper, "
                              "'user_id item_id item_id ...' (items in time order)")
    short = next((user for user, items in sequences.items() if len(items) < MIN_ITEMS), None)
    if short is not None:
        number = next(n for n, line in _lines(Path(found))
                      if line.split() and int(line.split()[0]) == short)
        raise ValidationError(
            f"{found}, line {number}: user {short} has {len(sequences[short])} item(s); every line "
            f"needs at least {MIN_ITEMS} (a training item, a validation item and a test item). "
            "Leave such shoppers out of the file.")
    return sequences


# --------------------------------------------------------------------------------------------
# Split


@dataclass
class Split:
    """Leave-one-out split. Items are re-indexed 1..n_items (0 pads sequences);
    item index i stands for the original id ``items[i - 1]``."""

    users: np.ndarray  # original user ids, one per row
    items: np.ndarray  # original item ids
    train: list[np.ndarray]  # per user: the training prefix (item indices, time order)
    valid: np.ndarray  # per user: the validation target
    test: np.ndarray  # per user: the test target
    dropped_users: int = 0  # users with fewer than 3 items (nothing to hold out)

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def inputs(self, stage: str) -> list[np.ndarray]:
        """What a model sees: the training prefix (valid), or it plus the validation item (test)."""
        if stage == "valid":
            return self.train
        if stage == "test":
            return [np.append(seq, item) for seq, item in zip(self.train, self.valid, strict=True)]
        raise ValueError(f"stage must be 'valid' or 'test', got {stage!r}")

    def targets(self, stage: str) -> np.ndarray:
        return {"valid": self.valid, "test": self.test}[stage]

    def item_index(self, original_ids) -> np.ndarray:
        """Item indices (1..n_items) of original item ids."""
        return np.searchsorted(self.items, original_ids) + 1


def leave_one_out(sequences) -> Split:
    """Split ``{user: [item, ...]}`` (time order) or a ``SequenceData`` into train / valid / test.

    Users with fewer than 3 items cannot give a training prefix and two targets; they are left
    out and counted in ``dropped_users``. Every item of every sequence is in the catalogue that
    targets are ranked against.
    """
    if hasattr(sequences, "sequences"):
        sequences = sequences.sequences()
    kept = {u: np.asarray(s) for u, s in sequences.items() if len(s) >= 3}
    if not kept:
        raise ValueError("no user has 3 or more items: leave-one-out needs a training prefix, "
                         "a validation item and a test item per user")
    items = np.unique(np.concatenate(list(kept.values())))
    encoded = [np.searchsorted(items, s).astype(np.int32) + 1 for s in kept.values()]
    return Split(
        users=np.asarray(list(kept)),
        items=items,
        train=[s[:-2] for s in encoded],
        valid=np.array([s[-2] for s in encoded], dtype=np.int32),
        test=np.array([s[-1] for s in encoded], dtype=np.int32),
        dropped_users=len(sequences) - len(kept),
    )


def history_matrix(sequences: list[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Users x items CSR matrix with a 1 where the item is in the user's sequence
    (column j stands for item index j + 1)."""
    lengths = np.array([len(s) for s in sequences])
    rows = np.repeat(np.arange(len(sequences)), lengths)
    cols = np.concatenate(sequences) - 1 if len(sequences) else np.array([], dtype=int)
    matrix = sp.csr_matrix((np.ones(len(cols), dtype=np.int8), (rows, cols)),
                           shape=(len(sequences), n_items))
    matrix.sum_duplicates()
    matrix.data[:] = 1  # an item seen twice is still one history entry
    return matrix


# --------------------------------------------------------------------------------------------
# Metrics


def target_ranks(scores: np.ndarray, targets: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
    """0-based rank of each row's target among all items, history items excluded.

    ``scores``: (users, n_items), column j = item index j + 1; ``targets``: item indices;
    ``history``: CSR (users, n_items) of items to exclude. The target is never excluded, and
    items tied with the target count as ranked before it.
    """
    scores = np.array(scores, dtype=np.float32)  # a copy: the caller's scores stay intact
    if np.isnan(scores).any():  # NaN compares False: a diverged model would look perfect
        raise ValueError("the model produced NaN scores (training diverged?); cannot rank")
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets - 1]
    scores[history.nonzero()] = -np.inf
    scores[rows, targets - 1] = target_scores  # the target is never excluded
    higher = (scores > target_scores[:, None]).sum(axis=1)
    tied = (scores == target_scores[:, None]).sum(axis=1) - 1  # minus the target itself
    return higher + tied


def ranking_metrics(ranks: np.ndarray, ks=KS) -> dict[str, float]:
    """HR@k, NDCG@k (1/log2(rank+2) for a 0-based rank below k) and MRR, averaged over users."""
    ranks = np.asarray(ranks, dtype=np.float64)
    out = {}
    for k in ks:
        out[f"HR@{k}"] = float(np.mean(ranks < k))
    for k in ks:
        out[f"NDCG@{k}"] = float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2), 0.0)))
    out["MRR"] = float(np.mean(1.0 / (ranks + 1)))
    return out


def per_user_metrics(ranks: np.ndarray, k: int = 10) -> dict[str, np.ndarray]:
    """Each user's HR@k, NDCG@k and reciprocal rank: ``ranking_metrics`` are their means."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return {f"HR@{k}": (ranks < k).astype(float),
            f"NDCG@{k}": np.where(ranks < k, 1.0 / np.log2(ranks + 2), 0.0),
            "MRR": 1.0 / (ranks + 1)}


def metrics_with_ci(ranks: dict[str, np.ndarray], k: int = 10, n_boot: int = 500,
                    seed: int = 0) -> dict[str, dict]:
    """{model: {HR@k, NDCG@k, MRR: {"value", "ci_low", "ci_high"}}} for the ranks of each model
    on the same users, with percentile bootstrap 95% intervals over users (the same resamples
    for every model)."""
    n_users = len(next(iter(ranks.values())))
    weights = bootstrap_weights(n_users, n_boot, seed) / n_users
    out = {}
    for name, model_ranks in ranks.items():
        out[name] = {}
        for metric, values in per_user_metrics(model_ranks, k).items():
            low, high = np.percentile(weights @ values, [2.5, 97.5])
            out[name][metric] = {"value": float(values.mean()), "ci_low": float(low),
                                 "ci_high": float(high)}
    return out


def paired_difference(ranks_a: np.ndarray, ranks_b: np.ndarray, metric: str = "NDCG@10",
                      n_boot: int = 500, seed: int = 0) -> dict[str, float]:
    """``metric`` of model a minus model b on the same users: the difference, its percentile
    bootstrap 95% interval over users, and the share of resamples in which a does not beat b.
    An interval that contains 0 means the difference is inside the noise of this many users."""
    k = int(metric.split("@")[1]) if "@" in metric else 10
    a, b = per_user_metrics(ranks_a, k)[metric], per_user_metrics(ranks_b, k)[metric]
    diffs = bootstrap_weights(len(a), n_boot, seed) @ (a - b) / len(a)
    low, high = np.percentile(diffs, [2.5, 97.5])
    return {"difference": float((a - b).mean()), "ci_low": float(low), "ci_high": float(high),
            "p_not_better": float(np.mean(diffs <= 0))}


def paired_bootstrap(a, b, n_boot: int = 2000, seed: int = 0, chunk: int = 250) -> dict[str, float]:
    """Mean of a - b over users (one value per user each, the same users in the same order), its
    percentile bootstrap 95% interval (users resampled with replacement, drawn in chunks so 2,000
    resamples of 20,000 users fit in memory; the same seed and n give the same resamples), and
    the share of resamples in which a - b <= 0."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.concatenate([diff[rng.integers(0, len(diff), (min(chunk, n_boot - start), len(diff)))]
                            .mean(axis=1) for start in range(0, n_boot, chunk)])
    low, high = np.percentile(means, [2.5, 97.5])
    return {"difference": float(diff.mean()), "ci_low": float(low), "ci_high": float(high),
            "p_not_better": float(np.mean(means <= 0))}


def seed_mean_per_user(ranks_per_seed: list[np.ndarray], k: int = 10) -> dict[str, np.ndarray]:
    """Each user's HR@k, NDCG@k and reciprocal rank averaged over the seeds' runs: a paired
    bootstrap then resamples users, not runs."""
    per_seed = [per_user_metrics(ranks, k) for ranks in ranks_per_seed]
    return {metric: np.mean([m[metric] for m in per_seed], axis=0) for metric in per_seed[0]}


def rank_all(model, split: Split, stage: str, batch_size: int = 2048) -> np.ndarray:
    """Ranks of every user's ``stage`` target; the model scores users in batches."""
    inputs, targets = split.inputs(stage), split.targets(stage)
    history = history_matrix(inputs, split.n_items)
    # users of similar length together: a recurrent model then steps through little padding
    order = np.argsort([len(s) for s in inputs], kind="stable")
    ranks = np.empty(split.n_users, dtype=np.int64)
    for start in range(0, split.n_users, batch_size):
        rows = order[start:start + batch_size]
        scores = model.score([inputs[r] for r in rows])
        ranks[rows] = target_ranks(scores, targets[rows], history[rows])
    return ranks


def evaluate(model, split: Split, stage: str = "valid", batch_size: int = 2048) -> dict:
    """HR@{5,10,20}, NDCG@{5,10,20} and MRR of ``model`` on the valid or test targets."""
    return ranking_metrics(rank_all(model, split, stage, batch_size))


def recommend(model, split: Split, sequences: list[np.ndarray], k: int = 5) -> np.ndarray:
    """Top-k item indices per sequence, items already in the sequence excluded."""
    scores = np.array(model.score(sequences), dtype=np.float32)
    scores[history_matrix(sequences, split.n_items).nonzero()] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top + 1


# --------------------------------------------------------------------------------------------
# Baselines


class MostPopular:
    """Scores every item by how often it occurs in the training prefixes."""

    name = "MostPop"

    def fit(self, split: Split) -> MostPopular:
        counts = np.bincount(np.concatenate(split.train), minlength=split.n_items + 1)
        self.counts = counts[1:].astype(np.float32)
        return self

    def score(self, sequences: list[np.ndarray]) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(sequences), len(self.counts)))


class Markov:
    """First-order Markov chain: how often each item followed the user's last item in the
    training prefixes; popularity breaks ties (it adds less than one transition)."""

    name = "Markov"

    def fit(self, split: Split) -> Markov:
        pairs = [(s[:-1], s[1:]) for s in split.train if len(s) > 1]
        prev = np.concatenate([p for p, _ in pairs]) if pairs else np.array([], dtype=int)
        nxt = np.concatenate([n for _, n in pairs]) if pairs else np.array([], dtype=int)
        n = split.n_items
        self.transitions = sp.csr_matrix((np.ones(len(prev), np.float32), (prev - 1, nxt - 1)),
                                         shape=(n, n))
        popularity = MostPopular().fit(split).counts
        self.tie_break = popularity / (popularity.max() + 1)
        # add-one: an item never bought in a training prefix keeps a small probability
        self.popularity = (popularity + 1) / (popularity.sum() + n)
        return self

    def score(self, sequences: list[np.ndarray]) -> np.ndarray:
        last = np.array([s[-1] for s in sequences]) - 1
        return self.transitions[last].toarray() + self.tie_break


# --------------------------------------------------------------------------------------------
# Recurrent recommenders


def pad_left(sequences: list[np.ndarray], max_len: int) -> np.ndarray:
    """The last ``max_len`` items of each sequence, left-padded with 0: column -1 is the last."""
    out = np.zeros((len(sequences), max_len), dtype=np.int32)
    for row, seq in enumerate(sequences):
        tail = seq[-max_len:]
        if len(tail):
            out[row, -len(tail):] = tail
    return out


def training_windows(split: Split, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-item targets of every training prefix, left-padded to ``max_len``;
    prefixes of one item (nothing to predict) are left out."""
    usable = [s for s in split.train if len(s) > 1]
    return pad_left([s[:-1] for s in usable], max_len), pad_left([s[1:] for s in usable], max_len)


def training_dataset(split: Split, max_len: int, batch_size: int, seed: int) -> tf.data.Dataset:
    """(inputs, targets) batches, reshuffled every epoch, each cut to its longest sequence so
    the recurrent layer does not step through columns that are padding in every row."""
    inputs, targets = training_windows(split, max_len)

    def trim(x, y):
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(y > 0, tf.int32), axis=1))
        return x[:, -longest:], y[:, -longest:]

    return (tf.data.Dataset.from_tensor_slices((inputs, targets))
            .shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size)
            .map(trim)
            .prefetch(tf.data.AUTOTUNE))


def session_parallel_batches(sequences: list[np.ndarray], lanes: int,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch of GRU4Rec's session-parallel mini-batches: (steps, lanes) arrays of the input
    item, its next item (the target) and whether the lane starts a new sequence at that step
    (its recurrent state is then reset).

    Each lane reads one sequence after another, one item per step; a sequence goes to the lane
    that frees up first, in an order shuffled with ``seed``. Every transition of every sequence
    (item -> next item) is in exactly one step; a lane with nothing left has item and target 0.
    Unlike the padded windows, no sequence is cut to a maximum length."""
    usable = [np.asarray(s) for s in sequences if len(s) > 1]
    lanes = max(1, min(lanes, len(usable)))
    free = [(0, lane) for lane in range(lanes)]  # (first free step, lane): already a heap
    placed = []
    for k in np.random.default_rng(seed).permutation(len(usable)):
        start, lane = heapq.heappop(free)
        placed.append((usable[k], start, lane))
        heapq.heappush(free, (start + len(usable[k]) - 1, lane))
    steps = max((start + len(s) - 1 for s, start, _ in placed), default=0)
    items = np.zeros((steps, lanes), dtype=np.int32)
    targets = np.zeros((steps, lanes), dtype=np.int32)
    reset = np.zeros((steps, lanes), dtype=bool)
    for s, start, lane in placed:
        items[start:start + len(s) - 1, lane] = s[:-1]
        targets[start:start + len(s) - 1, lane] = s[1:]
        reset[start, lane] = True
    return items, targets, reset


CELLS = ("gru", "lstm", "rnn", "sasrec")  # GRU, LSTM, SimpleRNN; SASRec-style self-attention


def model_parts(model: keras.Model) -> tuple[keras.Model, keras.layers.Layer]:
    """The model up to its layer ``state`` (hidden state after each position) and its output
    layer ``scores`` (item scores from a state): training and ranking need them apart."""
    names = [layer.name for layer in model.layers]
    if "state" not in names or "scores" not in names:
        raise ValueError(f"the recommender {model.name!r} needs a layer named 'state' (the hidden "
                         f"state after each position) and one named 'scores' (item scores from a "
                         f"state); its layers are {names}. Name them so in the builder, as "
                         f"utils/models/recommender.py does.")
    return keras.Model(model.input, model.get_layer("state").output), model.get_layer("scores")


def masked_loss(encoder, scores, items, targets, training=False):
    """Mean cross-entropy of the next item over the positions where targets > 0 (a softmax over
    all items); item scores are computed at those positions only, never at the padding."""
    real = targets > 0
    states = tf.boolean_mask(encoder(items, training=training), real)
    labels = tf.boolean_mask(targets, real) - 1
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=scores(states)))


class NextItemScorer:
    """Scores of every item as the next one after each sequence: the model's scores after the
    last item (what ``evaluate``, ``rank_all`` and ``recommend`` call)."""

    def __init__(self, model: keras.Model, max_len: int = 50):
        self.model, self.max_len = model, max_len
        encoder, scores = model_parts(model)
        # only the last state is scored: n_items scores per user, not per position
        self._last_scores = tf.function(
            lambda items: scores(encoder(items, training=False)[:, -1]), autograph=False,
            input_signature=[tf.TensorSpec([None, None], tf.int32)])

    def score(self, sequences: list[np.ndarray]) -> np.ndarray:
        """Scores (len(sequences), n_items); column j is item index j + 1."""
        items = pad_left(sequences, self.max_len)
        longest = max(int((items > 0).sum(axis=1).max()), 1)
        return self._last_scores(tf.constant(items[:, -longest:])).numpy()


class MarkovBlend:
    """A trained model with the Markov chain's signal added to its logits: score of item j =
    the model's score + ``weight`` x log(transitions from the last item to j + ``smoothing`` x
    popularity of j). The model's scores are logits (a softmax turns them into probabilities),
    so this adds the chain's log-probability of j, up to a constant per user that changes no
    ranking. ``weight`` 0 is the model alone; ``choose_weight`` picks it on validation."""

    WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)

    def __init__(self, scorer, markov: Markov, weight: float = 0.0, smoothing: float = 1.0):
        self.scorer, self.markov, self.weight, self.smoothing = scorer, markov, weight, smoothing

    def score(self, sequences: list[np.ndarray]) -> np.ndarray:
        scores = np.asarray(self.scorer.score(sequences), dtype=np.float32)
        if self.weight == 0:
            return scores
        last = np.array([s[-1] for s in sequences]) - 1
        chain = self.markov.transitions[last].toarray() + self.smoothing * self.markov.popularity
        return scores + self.weight * np.log(chain)

    def choose_weight(self, split: Split) -> dict:
        """Sets ``weight`` to the one of ``WEIGHTS`` with the best validation NDCG@10 (the
        smallest of equals) and returns its validation metrics; test targets are not read."""
        best = None
        for weight in self.WEIGHTS:
            self.weight = weight
            valid = evaluate(self, split, "valid")
            if best is None or valid[SELECTION_METRIC] > best[1][SELECTION_METRIC]:
                best = (weight, valid)
        self.weight = best[0]
        return best[1]


def session_parallel_trainer(model: keras.Model, cell: str, optimizer, sequences: list[np.ndarray],
                             lanes: int, seed: int):
    """A function ``epoch(number) -> losses`` that trains ``model`` for one epoch of
    ``session_parallel_batches``: one optimizer step per step of the lanes, the recurrent state
    carried from step to step (reset where a new sequence starts) and, as in GRU4Rec, not
    differentiated through; the loss is the full-softmax cross-entropy of ``masked_loss``.

    It needs the layers of ``build_recommender``: ``item_embedding``, the recurrent layer named
    ``cell``, the dropout ``state`` and ``scores``."""
    names = {layer.name for layer in model.layers}
    needed = {"item_embedding", cell, "state", "scores"}
    if cell not in ("gru", "lstm", "rnn") or not needed <= names:
        raise ValueError(f"session-parallel batches need a recurrent model with the layers "
                         f"{sorted(needed)} (as build_recommender makes them); {model.name!r} has "
                         f"{sorted(names)}. Use batching='windows' for it.")
    embedding, dropout, scores = (model.get_layer(n) for n in ("item_embedding", "state", "scores"))
    step_cell = model.get_layer(cell).cell
    sizes = step_cell.state_size
    sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]  # an LSTM has two states
    variables = model.trainable_variables

    @tf.function
    def train_step(items, targets, reset, states):
        keep = 1.0 - tf.cast(reset, tf.float32)[:, None]
        states = [state * keep for state in states]
        with tf.GradientTape() as tape:
            # the dropout rate of the model's embeddings and states (build_recommender: the same)
            vectors = tf.gather(embedding.embeddings, items)  # a lookup without the padding mask
            out, new_states = step_cell(dropout(vectors, training=True), states, training=True)
            real = targets > 0
            logits = scores(tf.boolean_mask(dropout(out, training=True), real))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.boolean_mask(targets, real) - 1, logits=logits))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss, [tf.stop_gradient(state) for state in tf.nest.flatten(new_states)]

    def epoch(number: int) -> list[float]:
        items, targets, reset = session_parallel_batches(sequences, lanes, seed + number)
        states = [tf.zeros((items.shape[1], size)) for size in sizes]
        losses = []
        for step in range(len(items)):
            loss, states = train_step(items[step], targets[step], reset[step], states)
            losses.append(loss)
        return [float(loss) for loss in losses]

    return epoch


@dataclass
class TrainResult:
    model: keras.Model  # as the builder made it, with the weights of the best validation epoch
    scorer: NextItemScorer  # ranks with ``model``
    history: list[dict] = field(default_factory=list)  # per epoch: loss, valid metrics, time
    best_epoch: int = 0
    train_seconds: float = 0.0
    stopped_early: bool = False  # by patience, before the epoch budget was spent


BATCHING = ("windows", "session_parallel")


def train_recommender(split: Split, build_model=None, cell: str = "gru", dim: int = 64,
                      dropout: float = 0.3, tied: bool = True, max_len: int = 50,
                      batch_size: int = 128, learning_rate: float = 5e-3, epochs: int = 40,
                      patience: int = 5, seed: int = 0, batching: str = "windows",
                      model_options: dict | None = None, verbose: bool = False) -> TrainResult:
    """Build a model with ``build_model(split.n_items, cell=, dim=, dropout=, tied=)`` (plus
    ``max_len=`` for ``cell="sasrec"`` and any ``model_options``; ``build_model=None`` takes
    ``build_sasrec`` for "sasrec", else ``build_recommender``) and train it with Adam on the
    full-softmax cross-entropy of the next item, computing validation NDCG@10 after every epoch.

    The budget is a number of epochs, so a busy machine changes the time, not the result:
    training stops after ``epochs`` epochs, or earlier after ``patience`` epochs without a better
    validation NDCG@10, and keeps the weights of the best epoch. Each epoch's wall time is
    recorded in ``history``. ``batching``: "windows" (each user's last ``max_len`` training items,
    left-padded, ``batch_size`` users per step) or "session_parallel" (GRU4Rec's mini-batches,
    ``batch_size`` lanes; recurrent cells only). Test targets are never read here.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    if batching not in BATCHING:
        raise ValueError(f"batching must be one of {', '.join(BATCHING)}, got {batching!r}")
    config.seed_everything(seed)
    if build_model is None:
        build_model = build_sasrec if cell == "sasrec" else build_recommender
    options = {"cell": cell, "dim": dim, "dropout": dropout, "tied": tied}
    if cell == "sasrec":  # its position table has max_len rows
        options["max_len"] = max_len
    model = build_model(split.n_items, **options, **(model_options or {}))
    encoder, scores = model_parts(model)
    scorer = NextItemScorer(model, max_len)
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)

    if batching == "session_parallel":
        train_epoch = session_parallel_trainer(model, cell, optimizer, split.train, batch_size, seed)
    else:
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
        def train_step(items, targets):
            with tf.GradientTape() as tape:
                loss = masked_loss(encoder, scores, items, targets, training=True)
            optimizer.apply(tape.gradient(loss, variables), variables)
            return loss

        data = training_dataset(split, max_len, batch_size, seed)

        def train_epoch(number: int) -> list[float]:
            return [float(train_step(items, targets)) for items, targets in data]

    history: list[dict] = []
    best_weights, best_score, waited = None, -np.inf, 0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        losses = train_epoch(epoch)
        valid = evaluate(scorer, split, "valid")
        elapsed = time.perf_counter() - started  # recorded beside the result, never a reason to stop
        history.append({"epoch": epoch, "loss": float(np.mean(losses)),
                        **{f"valid_{k}": v for k, v in valid.items()},
                        "seconds": round(elapsed, 2)})
        if verbose:
            print(f"{cell} epoch {epoch}: loss {np.mean(losses):.4f}, valid NDCG@10 "
                  f"{valid['NDCG@10']:.4f}, HR@10 {valid['HR@10']:.4f} ({elapsed:.0f} s)",
                  flush=True)
        if valid[SELECTION_METRIC] > best_score:
            best_weights, best_score, waited = model.get_weights(), valid[SELECTION_METRIC], 0
        else:
            waited += 1
        if waited >= patience:
            break
    model.set_weights(best_weights)
    best = max(history, key=lambda h: h[f"valid_{SELECTION_METRIC}"])  # the first of equals
    return TrainResult(model, scorer, history, best["epoch"], time.perf_counter() - started,
                       stopped_early=len(history) < epochs)


# --------------------------------------------------------------------------------------------
# Benchmark: Amazon Beauty or any file in the S3-Rec format

# The S3-Rec paper's all-item ranking on Beauty.txt (../shared/data/SOURCES.md): HR@10, NDCG@10
PUBLISHED = {
    "PopRec": (0.0152, 0.0068), "GRU4Rec": (0.0283, 0.0137), "Caser": (0.0347, 0.0176),
    "BERT4Rec": (0.0347, 0.0170), "SASRec": (0.0605, 0.0318), "S3-Rec": (0.0647, 0.0327),
}
# later papers on the same Beauty.txt and protocol, as the data's SOURCES.md lists them
PUBLISHED_LATER = {"DuoRec": (0.0845, 0.0443), "eSASRec": (0.0928, 0.0523), "BSARec": (0.1008, 0.0611)}
PUBLISHED_METRICS = ("HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR")

NEURAL = {"GRU": "gru", "LSTM": "lstm", "SimpleRNN": "rnn", "SASRec": "sasrec"}  # name: cell
RECURRENT = ("GRU", "LSTM", "SimpleRNN")
BASELINES = {"Markov": Markov, "MostPopular": MostPopular}
MODELS = (*NEURAL, *BASELINES)
# the recipe every cell starts from (the first configuration of the search)
RECIPE = {"dim": 64, "dropout": 0.3, "tied": True, "max_len": 50, "batch_size": 128,
          "learning_rate": 5e-3}
EPOCHS, PATIENCE = 40, 5
SEARCH_SPACE = {"dim": (32, 64, 128), "dropout": (0.2, 0.3, 0.5), "learning_rate": (1e-3, 2e-3, 5e-3),
                "max_len": (20, 50, 100)}
PAIRED_METRICS = ("HR@10", "NDCG@10", "MRR")


def search_configs(n: int, seed: int = 0) -> list[dict]:
    """``n`` training configurations: ``RECIPE`` first, then distinct draws from
    ``SEARCH_SPACE`` (dimension, dropout, learning rate, maximum length). The same list serves
    every model, so no cell gets a wider search than another."""
    keys = list(SEARCH_SPACE)
    first = tuple(RECIPE[k] for k in keys)
    others = [c for c in itertools.product(*SEARCH_SPACE.values()) if c != first]
    drawn = np.random.default_rng(seed).choice(len(others), size=min(n, len(others) + 1) - 1,
                                               replace=False)
    return [RECIPE | dict(zip(keys, c, strict=True)) for c in [first, *(others[i] for i in drawn)]]


def beauty_published() -> dict[str, dict]:
    """The published rows of Amazon Beauty under this protocol, each with its source."""
    rows = {name: {"HR@10": hr, "NDCG@10": ndcg, "source": "S3-Rec paper (CIKM 2020), all-item ranking"}
            for name, (hr, ndcg) in PUBLISHED.items()}
    rows |= {name: {"HR@10": hr, "NDCG@10": ndcg, "source": "a later paper on the same file and protocol"}
             for name, (hr, ndcg) in PUBLISHED_LATER.items()}
    return rows


def load_published(path: str | os.PathLike) -> dict[str, dict]:
    """A dataset's published results: a JSON object ``{"model": {"HR@10": 0.06, "NDCG@10": 0.03,
    "source": "paper"}, ...}``. Metrics are numbers in [0, 1], or null for a place kept for a
    figure not yet known; ``source`` is free text."""
    path = Path(path)
    expected = ('{"model": {"HR@10": 0.06, "NDCG@10": 0.03, "source": "..."}, ...} '
                f"with metrics among {', '.join(PUBLISHED_METRICS)}")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}); expected "
                              f"{expected}") from exc
    if not isinstance(rows, dict):
        raise ValidationError(f"{path}: expected {expected}")
    for model, row in rows.items():
        if not isinstance(row, dict):
            raise ValidationError(f"{path}: {model!r} is not an object; expected {expected}")
        for key, value in row.items():
            if key == "source":
                continue
            valid = value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)
                                      and 0 <= value <= 1)
            if key not in PUBLISHED_METRICS or not valid:
                raise ValidationError(f"{path}: {model!r} has {key}={value!r}; expected {expected} "
                                      "(each a number in [0, 1] or null)")
    return rows


def published_results(dataset=None, published=None) -> dict[str, dict]:
    """The rows of ``published`` (a file), else of ``<name>.published.json`` beside the dataset
    file, else, for Amazon Beauty (``dataset=None``), ``beauty_published()``; else none."""
    if published is not None:
        return load_published(published)
    if dataset is None:
        return beauty_published()
    beside = Path(dataset).with_name(Path(dataset).name.split(".")[0] + ".published.json")
    return load_published(beside) if beside.is_file() else {}


def timed_ranks(model, split: Split, stage: str) -> tuple[np.ndarray, float]:
    """Ranks of every user's ``stage`` target and the seconds the full ranking took."""
    started = time.perf_counter()
    ranks = rank_all(model, split, stage)
    return ranks, time.perf_counter() - started


def run_benchmark(dataset=None, seeds: int = 3, models=MODELS, epochs: int = EPOCHS,
                  patience: int = PATIENCE, search: int = 4, batching: str = "windows",
                  n_boot: int = 2000, out=None, published=None, resume: bool = False,
                  command: str | None = None, verbose: bool = False) -> dict:
    """The benchmark on ``dataset`` (a file in the S3-Rec format; None: Amazon Beauty).

    1. The baselines (Markov, MostPopular) once.
    2. Per neural model, a validation search: each of ``search_configs(search)`` trained once
       (seed 0, at most ``epochs`` epochs, early stopping with ``patience``); the configuration
       with the best validation NDCG@10 is kept. Test targets are not read.
    3. The kept configuration over ``seeds`` seeds (seed 0 is the search's run), test ranked once
       per run; and the same trained model with the Markov chain's signal added to its logits
       (``MarkovBlend``, its weight chosen on validation), the row "<model>+Markov".
    4. Per model, mean and std over seeds of the test metrics, epochs and seconds; paired
       bootstrap intervals (``n_boot`` resamples of shoppers, each shopper's metric averaged over
       seeds) against the Markov chain and the best recurrent model on validation.

    ``batching`` applies to the recurrent models; SASRec always trains on windows. Writes
    ``out`` (default reports/metrics/benchmark_recsys.json, or benchmark_recsys_<file name>.json
    for a dataset) after every run, so a crash keeps what was done; ``resume`` keeps the runs
    already in ``out`` (same settings but the models) and does the rest: a resume with other
    ``models`` adds them to the table."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    name = "amazon_beauty" if dataset is None else Path(dataset).name.split(".")[0]
    suffix = "" if dataset is None else f"_{name}"
    out = Path(out) if out else config.reports_dir("metrics") / f"benchmark_recsys{suffix}.json"
    split = leave_one_out(read_sequences(dataset))
    rows_published = published_results(dataset, published)
    configs = search_configs(search)
    settings = {"dataset": str(dataset) if dataset else name, "seeds": seeds, "models": list(models),
                "max_epochs": epochs, "patience": patience, "batching": batching,
                "search": configs, "n_bootstrap": n_boot, "selection": f"validation {SELECTION_METRIC}",
                "markov_weights": list(MarkovBlend.WEIGHTS)}
    runs: list[dict] = previous_runs(out, settings) if resume else []
    recorded = {r["model"] for r in runs}  # the table keeps them: ``models`` adds to it
    settings["models"] = [m for m in MODELS if m in models or m in recorded]

    def done(model, stage, key):  # a search run is known by its configuration, a test run by its seed
        by = "config" if stage == "search" else "seed"
        return any(r["model"] == model and r["stage"] == stage and r[by] == key for r in runs)

    def save(final=False):  # the intervals take seconds on 20,000 shoppers: at the end only
        tested = [r for r in runs if r["stage"] == "test"]
        payload = {"command": command or "python -m utils.tasks.recommend --benchmark",
                   "dataset": f"{name} ({split.n_users} users, {split.n_items} items)",
                   "dataset_path": str(dataset) if dataset else "amazon_beauty (verified public copy)",
                   "protocol": "leave-one-out; test target ranked against all items, items in "
                               "the user's history excluded (never the target); mean over users",
                   "settings": settings, "summary": summarise(runs),
                   "paired": paired_comparisons(tested, n_boot) if final and tested else {},
                   "published": rows_published,
                   "published_note": "numbers from other code bases and other losses, not run here",
                   "runs": runs, "git_commit": recorder.git_commit(),
                   "packages": recorder.package_versions()}
        files.write_json_atomic(out, files.to_jsonable(payload))
        return payload

    for model_name in (m for m in BASELINES if m in models):
        if done(model_name, "test", None):
            continue
        started = time.perf_counter()
        baseline = BASELINES[model_name]().fit(split)
        fit_s = time.perf_counter() - started
        ranks, eval_s = timed_ranks(baseline, split, "test")
        runs.append({"model": model_name, "stage": "test", "seed": None, "config": None,
                     "train_s": fit_s, "eval_s": eval_s, "epochs": None, "best_epoch": None,
                     "valid": evaluate(baseline, split, "valid"), "test": ranking_metrics(ranks),
                     "test_ranks": ranks})
        save()

    markov = Markov().fit(split)  # the signal every neural model's "+Markov" row adds
    for model_name in (m for m in NEURAL if m in models):
        cell = NEURAL[model_name]
        how = batching if model_name in RECURRENT else "windows"

        def train(config_index, seed, cell=cell, how=how):
            recipe = configs[config_index]
            return train_recommender(split, cell=cell, seed=seed, epochs=epochs, patience=patience,
                                     batching=how, verbose=verbose, **recipe)

        kept = None  # the search's best run, reused as seed 0
        if len(configs) > 1:
            for index in range(len(configs)):
                if done(model_name, "search", index):
                    continue
                result = train(index, 0)
                best = result.history[result.best_epoch - 1][f"valid_{SELECTION_METRIC}"]
                runs.append({"model": model_name, "stage": "search", "config": index, "seed": 0,
                             "valid_NDCG@10": best, "epochs": len(result.history),
                             "best_epoch": result.best_epoch, "train_s": result.train_seconds,
                             "load_average_1min": os.getloadavg()[0]})
                save()
                print(f"search {model_name} config {index} {configs[index]}: valid NDCG@10 "
                      f"{best:.4f} ({len(result.history)} epochs, {result.train_seconds:.0f} s)",
                      flush=True)
                if kept is None or best > kept[1]:
                    kept = (index, best, result)
            searched = [r for r in runs if r["model"] == model_name and r["stage"] == "search"]
            chosen = max(searched, key=lambda r: (r["valid_NDCG@10"], -r["config"]))["config"]
        else:
            chosen = 0
        blended = f"{model_name}+Markov"
        for seed in range(seeds):
            missing = [name for name in (model_name, blended) if not done(name, "test", seed)]
            if not missing:
                continue
            if seed == 0 and kept is not None and kept[0] == chosen:
                result = kept[2]
            else:
                result = train(chosen, seed)
            best = result.history[result.best_epoch - 1]
            valid = {k[6:]: v for k, v in best.items() if k.startswith("valid_")}
            blend = MarkovBlend(result.scorer, markov)
            valid_blend = blend.choose_weight(split)  # on validation, before the test is read
            for row, scorer, valid_metrics in ((model_name, result.scorer, valid),
                                               (blended, blend, valid_blend)):
                if row not in missing:
                    continue
                ranks, eval_s = timed_ranks(scorer, split, "test")  # test read once
                test = ranking_metrics(ranks)
                runs.append({"model": row, "stage": "test", "seed": seed, "config": chosen,
                             "recipe": configs[chosen], "batching": how,
                             "markov_weight": blend.weight if row == blended else None,
                             "train_s": result.train_seconds, "eval_s": eval_s,
                             "epochs": len(result.history), "best_epoch": result.best_epoch,
                             # time, not the result, depends on the load: recorded beside it
                             "load_average_1min": os.getloadavg()[0],
                             "valid": valid_metrics, "test": test, "test_ranks": ranks,
                             "valid_ndcg10_per_epoch": [h["valid_NDCG@10"] for h in result.history]})
                save()
                print(f"seed {seed} {row}: test NDCG@10 {test['NDCG@10']:.4f}, HR@10 "
                      f"{test['HR@10']:.4f} ({result.train_seconds:.0f} s, {len(result.history)} "
                      f"epochs, best {result.best_epoch}, evaluation {eval_s:.1f} s"
                      + (f", Markov weight {blend.weight}" if row == blended else "") + ")",
                      flush=True)
    payload = save(final=True)
    return {"summary": payload["summary"], "paired": payload["paired"],
            "published": rows_published, "runs": runs, "path": str(out)}


def previous_runs(path, settings: dict) -> list[dict]:
    """The runs recorded in ``path`` by a benchmark with the same settings (for ``--resume``).
    Only the models may differ: a resume can add a model to the table and keeps the others."""
    if not path.exists():
        return []
    recorded = json.loads(path.read_text())
    if ({k: v for k, v in recorded["settings"].items() if k != "models"}
            != {k: v for k, v in files.to_jsonable(settings).items() if k != "models"}):
        raise ValueError(f"{path} was written with other settings ({recorded['settings']}); "
                         f"rerun with the same options, or without --resume to start afresh")
    return recorded["runs"]


def mean_std(values) -> dict[str, float] | None:
    values = [v for v in values if v is not None]
    return {"mean": float(np.mean(values)), "std": float(np.std(values))} if values else None


def summarise(runs: list[dict]) -> dict:
    """Per model (its test runs): mean and std over seeds of the test metrics, the epochs run,
    the best epoch and the training seconds; mean validation NDCG@10 and evaluation seconds."""
    tested = [r for r in runs if r.get("stage", "test") == "test"]
    summary = {}
    for name in dict.fromkeys(r["model"] for r in tested):
        group = [r for r in tested if r["model"] == name]
        row = {"n_runs": len(group)}
        for key in ("HR@10", "NDCG@10", "MRR", "HR@5", "NDCG@5", "HR@20", "NDCG@20"):
            row[key] = mean_std([r["test"][key] for r in group])
        row["valid_NDCG@10"] = float(np.mean([r["valid"]["NDCG@10"] for r in group]))
        row["epochs"] = mean_std([r["epochs"] for r in group])
        row["best_epoch"] = mean_std([r.get("best_epoch") for r in group])
        row["seconds"] = mean_std([r["train_s"] for r in group])
        row["train_s"] = row["seconds"]["mean"]
        row["eval_s"] = float(np.mean([r["eval_s"] for r in group]))
        row["epochs_per_seed"] = [r["epochs"] for r in group]
        summary[name] = row
    return summary


def paired_comparisons(runs: list[dict], n_boot: int = 2000, seed: int = 0) -> dict:
    """Every model against the Markov chain and against the best recurrent model (the highest
    mean validation NDCG@10 over seeds): per metric of ``PAIRED_METRICS``, model minus reference,
    its paired bootstrap 95% interval over shoppers (each shopper's metric averaged over the
    model's seeds first) and the share of resamples in which the model does not beat it."""
    per_user, valid = {}, {}
    for name in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == name]
        per_user[name] = seed_mean_per_user([np.asarray(r["test_ranks"]) for r in group])
        valid[name] = float(np.mean([r["valid"][SELECTION_METRIC] for r in group]))
    references = {}
    if "Markov" in per_user:
        references["markov"] = "Markov"
    recurrent = [n for n in RECURRENT if n in per_user]
    if recurrent:
        references["best_recurrent"] = max(recurrent, key=valid.get)
    out = {"references": references, "n_bootstrap": n_boot, "metrics": list(PAIRED_METRICS)}
    for role, reference in references.items():
        out[f"vs_{role}"] = {
            name: {m: paired_bootstrap(values[m], per_user[reference][m], n_boot, seed)
                   for m in PAIRED_METRICS}
            for name, values in per_user.items() if name != reference}
    return out


def benchmark_table(summary: dict, paired: dict | None = None,
                    published: dict | None = None) -> pd.DataFrame:
    """The benchmark as one table of text cells, a row per model: for the models run here, mean ±
    std over seeds of HR@10, NDCG@10 and MRR, the mean validation NDCG@10, the epochs run, the
    best epoch, the training seconds and the NDCG@10 difference to each reference (the Markov
    chain, the best recurrent model) with its 95% paired interval; then the published rows, each
    with its source (numbers from other code bases and other losses, not run here)."""
    paired = paired or {}
    references = paired.get("references", {})

    def spread(cell, digits=4):
        return f"{cell['mean']:.{digits}f} ± {cell['std']:.{digits}f}" if cell else "-"

    def versus(role, name):
        d = paired.get(f"vs_{role}", {}).get(name, {}).get("NDCG@10")
        return f"{d['difference']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]" if d else "-"

    rows = {}
    for name, row in summary.items():
        rows[name] = {"HR@10": spread(row["HR@10"]), "NDCG@10": spread(row["NDCG@10"]),
                      "MRR": spread(row["MRR"]), "valid NDCG@10": f"{row['valid_NDCG@10']:.4f}",
                      "epochs": spread(row["epochs"], 1), "best epoch": spread(row["best_epoch"], 1),
                      "train s": f"{row['train_s']:.0f}", "source": "run here"}
        for role, reference in references.items():
            rows[name][f"NDCG@10 vs {reference} [95%]"] = versus(role, name)
    for name, row in (published or {}).items():
        rows[f"{name} (published)"] = {
            **{m: "n/a" if row[m] is None else f"{row[m]:.4f}" for m in ("HR@10", "NDCG@10", "MRR")
               if m in row},
            "source": row.get("source", "source not given")}
    table = pd.DataFrame.from_dict(rows, orient="index").fillna("")
    return table[[c for c in table.columns if c != "source"] + ["source"]] if rows else table


def format_table(summary: dict, paired: dict | None = None, published: dict | None = None) -> str:
    """``benchmark_table`` as text, with what the differences and the published rows are."""
    lines = [benchmark_table(summary, paired, published).to_string()]
    if paired:
        lines.append(f"differences: test NDCG@10, model minus reference, 95% paired bootstrap interval "
                     f"over shoppers ({paired['n_bootstrap']} resamples, seeds averaged per shopper)")
    if published:
        lines.append("published rows: other code bases, other losses; not run here")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.tasks.recommend",
        description="Train the baselines, the recurrent recommenders and SASRec on Amazon Beauty "
                    "or on any file in the S3-Rec format (one shopper per line: user id, then item "
                    "ids in time order), with a validation search per model, several seeds and "
                    "paired intervals; write the table as JSON.")
    parser.add_argument("--benchmark", action="store_true", help="run the benchmark")
    parser.add_argument("--dataset", metavar="PATH",
                        help="a file in the S3-Rec format (default: Amazon Beauty)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per neural model (default 3)")
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"comma-separated from {','.join(MODELS)} (default: all)")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"most epochs per training run (default {EPOCHS})")
    parser.add_argument("--patience", type=int, default=PATIENCE,
                        help=f"epochs without a better validation NDCG@10 before stopping "
                             f"(default {PATIENCE})")
    parser.add_argument("--search", type=int, default=4,
                        help="configurations of the validation search per model; 1 = the recipe only "
                             "(default 4)")
    parser.add_argument("--batching", choices=BATCHING, default="windows",
                        help="mini-batches of the recurrent models (default windows)")
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--out", metavar="FILE", help="the JSON to write (default "
                        "reports/metrics/benchmark_recsys.json, or benchmark_recsys_<name>.json)")
    parser.add_argument("--published", metavar="FILE", help="the dataset's published results as "
                        "JSON (default: <name>.published.json beside the dataset, if there)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in the output file and do the rest (other "
                             "--models are added to its table)")
    parser.add_argument("--verbose", action="store_true", help="print every epoch")
    args = parser.parse_args(argv)
    if not args.benchmark:
        parser.print_help()
        return 2
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    if min(args.seeds, args.epochs, args.patience, args.search, args.n_boot) < 1:
        parser.error("--seeds, --epochs, --patience, --search and --n-boot must be at least 1")
    command = " ".join(["python -m utils.tasks.recommend", *(sys.argv[1:] if argv is None else argv)])
    try:
        result = run_benchmark(args.dataset, args.seeds, models, args.epochs, args.patience,
                               args.search, args.batching, args.n_boot, args.out, args.published,
                               args.resume, command, args.verbose)
    except (ValueError, FileNotFoundError) as err:  # a bad file: its message names it and the line
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result["summary"], result["paired"], result["published"]))
    print(f"written to {result['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
