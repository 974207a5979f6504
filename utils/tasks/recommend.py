"""Next-item recommendation: the leave-one-out split, all-item ranking metrics, two baselines
and recurrent recommenders (GRU, LSTM, SimpleRNN).

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
- ``MostPopular`` and ``Markov`` (first-order item-to-next-item transitions) are the baselines.
- ``train_recommender`` builds a recurrent recommender with the builder it is given (by default
  ``utils.models.recommender.build_recommender``: item embedding -> GRU / LSTM / SimpleRNN ->
  a score for every item at every position), trains it with the full-softmax cross-entropy of
  the next item on the real (non-padded) positions only, streams batches through ``tf.data`` and
  stops early on validation NDCG@10. ``NextItemScorer`` ranks with the trained model.

``python -m utils.tasks.recommend --benchmark --seeds 3`` trains every model on Amazon Beauty and writes
reports/metrics/benchmark_recsys.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf

from utils.core import config, files, recorder
from utils.data import collect
from utils.data.schema import require_columns
from utils.models.evaluate import bootstrap_weights
from utils.models.recommender import build_recommender

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


CELLS = ("gru", "lstm", "rnn")  # GRU, LSTM, SimpleRNN


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


@dataclass
class TrainResult:
    model: keras.Model  # as the builder made it, with the weights of the best validation epoch
    scorer: NextItemScorer  # ranks with ``model``
    history: list[dict] = field(default_factory=list)  # per epoch: loss, valid metrics, time
    best_epoch: int = 0
    train_seconds: float = 0.0


def train_recommender(split: Split, build_model=build_recommender, cell: str = "gru",
                      dim: int = 64, dropout: float = 0.3, tied: bool = True, max_len: int = 50,
                      batch_size: int = 128, learning_rate: float = 5e-3, epochs: int = 40,
                      patience: int = 5, seed: int = 0, time_budget_s: float | None = None,
                      verbose: bool = False) -> TrainResult:
    """Build a model with ``build_model(split.n_items, cell=, dim=, dropout=, tied=)`` and train
    it with Adam on ``masked_loss``, computing validation NDCG@10 after every epoch.

    Training stops after ``patience`` epochs without improvement, after ``epochs``, or before an
    epoch that would end past ``time_budget_s`` seconds; the weights of the best validation epoch
    are kept. Test targets are never read here.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {cell!r}")
    config.seed_everything(seed)
    model = build_model(split.n_items, cell=cell, dim=dim, dropout=dropout, tied=tied)
    encoder, scores = model_parts(model)
    scorer = NextItemScorer(model, max_len)
    optimizer = keras.optimizers.Adam(learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32)] * 2)
    def train_step(items, targets):
        with tf.GradientTape() as tape:
            loss = masked_loss(encoder, scores, items, targets, training=True)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    data = training_dataset(split, max_len, batch_size, seed)
    history: list[dict] = []
    best_weights, best_score, waited = None, -np.inf, 0
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        losses = [float(train_step(items, targets)) for items, targets in data]
        valid = evaluate(scorer, split, "valid")
        elapsed = time.perf_counter() - started
        last = elapsed - (history[-1]["seconds"] if history else 0.0)
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
        if time_budget_s and elapsed + last > time_budget_s:  # the next epoch won't fit
            break
    model.set_weights(best_weights)
    best = max(history, key=lambda h: h[f"valid_{SELECTION_METRIC}"])
    return TrainResult(model, scorer, history, best["epoch"], time.perf_counter() - started)


# --------------------------------------------------------------------------------------------
# Benchmark on Amazon Beauty

# The S3-Rec paper's all-item ranking on Beauty.txt (../shared/data/SOURCES.md): HR@10, NDCG@10
PUBLISHED = {
    "PopRec": (0.0152, 0.0068), "GRU4Rec": (0.0283, 0.0137), "Caser": (0.0347, 0.0176),
    "BERT4Rec": (0.0347, 0.0170), "SASRec": (0.0605, 0.0318), "S3-Rec": (0.0647, 0.0327),
}
RECURRENT = {"GRU": {"cell": "gru"}, "LSTM": {"cell": "lstm"}, "SimpleRNN": {"cell": "rnn"}}
# one recipe for every cell (chosen on validation NDCG@10 with the same budget for each)
RECIPE = {"dim": 64, "dropout": 0.3, "tied": True, "max_len": 50, "batch_size": 128,
          "learning_rate": 5e-3, "patience": 5}


def timed_evaluation(model, split: Split, stage: str) -> tuple[dict, float]:
    """Metrics of ``stage`` and the seconds the full ranking of all users took."""
    started = time.perf_counter()
    result = evaluate(model, split, stage)
    return result, time.perf_counter() - started


def run_benchmark(seeds: int = 3, epochs: int = 40, budget_s: float = 900.0,
                  models: tuple[str, ...] = tuple(RECURRENT), untied: bool = True,
                  out=None, resume: bool = False, **train_kwargs) -> dict:
    """Baselines once, each recurrent model once per seed (same budget for all), the tied and
    untied GRU compared on the first seed. Writes ``out`` (default
    reports/metrics/benchmark_recsys.json) after every run, so a crash keeps what was done;
    ``resume`` keeps the runs already in ``out`` (same settings only) and does the rest."""
    from utils.data.sources import load_amazon_beauty

    out = out or config.reports_dir("metrics") / "benchmark_recsys.json"
    split = leave_one_out(load_amazon_beauty())
    recipe = RECIPE | train_kwargs
    settings = {"seeds": seeds, "max_epochs": epochs, "budget_s_per_model": budget_s,
                "recipe": recipe}
    runs: list[dict] = previous_runs(out, settings) if resume else []
    done = {(r["model"], r["seed"]) for r in runs}

    def save():
        payload = {"command": " ".join(["python -m utils.tasks.recommend", *sys.argv[1:]]),
                   "dataset": f"amazon_beauty ({split.n_users} users, {split.n_items} items)",
                   "protocol": "leave-one-out; test target ranked against all items, items in "
                               "the user's history excluded (never the target); mean over users",
                   "settings": settings, "summary": summarise(runs), "runs": runs,
                   "published_s3rec": {k: {"HR@10": h, "NDCG@10": n}
                                       for k, (h, n) in PUBLISHED.items()},
                   "git_commit": recorder.git_commit(), "packages": recorder.package_versions()}
        files.write_json_atomic(out, files.to_jsonable(payload))

    for baseline in (MostPopular(), Markov()):
        if (baseline.name, None) in done:
            continue
        started = time.perf_counter()
        baseline.fit(split)
        fit_s = time.perf_counter() - started
        test, eval_s = timed_evaluation(baseline, split, "test")
        runs.append({"model": baseline.name, "seed": None, "train_s": fit_s, "eval_s": eval_s,
                     "epochs": None, "valid": evaluate(baseline, split, "valid"), "test": test})
        save()
    for seed in range(seeds):
        variants = [(name, RECURRENT[name]) for name in models]
        if untied and seed == 0:
            variants.append(("GRU untied", {"cell": "gru", "tied": False}))
        for name, kwargs in variants:
            if (name, seed) in done:
                continue
            result = train_recommender(split, seed=seed, epochs=epochs, time_budget_s=budget_s,
                                       **(recipe | kwargs))
            test, eval_s = timed_evaluation(result.scorer, split, "test")  # read once
            best = result.history[result.best_epoch - 1]
            runs.append({"model": name, "seed": seed, "train_s": result.train_seconds,
                         "eval_s": eval_s, "epochs": len(result.history),
                         "best_epoch": result.best_epoch,
                         # a time budget buys fewer epochs on a busy machine: keep the load
                         "load_average_1min": os.getloadavg()[0],
                         "valid": {k[6:]: v for k, v in best.items() if k.startswith("valid_")},
                         "test": test,
                         "valid_ndcg10_per_epoch": [h["valid_NDCG@10"] for h in result.history]})
            save()
            print(f"seed {seed} {name}: test NDCG@10 {test['NDCG@10']:.4f}, HR@10 "
                  f"{test['HR@10']:.4f} ({result.train_seconds:.0f} s, "
                  f"{len(result.history)} epochs, evaluation {eval_s:.1f} s)", flush=True)
    return {"summary": summarise(runs), "runs": runs, "path": str(out)}


def previous_runs(path, settings: dict) -> list[dict]:
    """The runs recorded in ``path`` by a benchmark with the same settings (for ``--resume``)."""
    if not path.exists():
        return []
    recorded = json.loads(path.read_text())
    if recorded["settings"] != files.to_jsonable(settings):
        raise ValueError(f"{path} was written with other settings ({recorded['settings']}); "
                         f"rerun with the same options, or without --resume to start afresh")
    return recorded["runs"]


def summarise(runs: list[dict]) -> dict:
    """Per model: mean and std over seeds of the test metrics, valid NDCG@10 and the times."""
    summary = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        group = [r for r in runs if r["model"] == name]
        row = {"n_runs": len(group)}
        for key in ("HR@10", "NDCG@10", "HR@5", "NDCG@5", "HR@20", "NDCG@20", "MRR"):
            values = [r["test"][key] for r in group]
            row[key] = {"mean": float(np.mean(values)), "std": float(np.std(values))}
        row["valid_NDCG@10"] = float(np.mean([r["valid"]["NDCG@10"] for r in group]))
        row["train_s"] = float(np.mean([r["train_s"] for r in group]))
        row["eval_s"] = float(np.mean([r["eval_s"] for r in group]))
        row["epochs_per_seed"] = [r["epochs"] for r in group]
        summary[name] = row
    return summary


def format_table(summary: dict) -> str:
    lines = [f"{'model':12s} {'HR@10':>17s} {'NDCG@10':>17s} {'valid NDCG@10':>14s} "
             f"{'train s':>8s} {'eval s':>7s}  epochs"]
    for name, row in summary.items():
        hr, ndcg = row["HR@10"], row["NDCG@10"]
        lines.append(f"{name:12s} {hr['mean']:.4f} ± {hr['std']:.4f}  "
                     f"{ndcg['mean']:.4f} ± {ndcg['std']:.4f}  {row['valid_NDCG@10']:14.4f} "
                     f"{row['train_s']:8.0f} {row['eval_s']:7.1f}  "
                     f"{'/'.join(str(e) for e in row['epochs_per_seed'] if e is not None)}")
    lines.append("published (S3-Rec paper, same protocol): " + ", ".join(
        f"{k} {h:.4f}/{n:.4f}" for k, (h, n) in PUBLISHED.items()) + "  (HR@10/NDCG@10)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m utils.tasks.recommend",
        description="Train the baselines and the recurrent recommenders on Amazon Beauty and "
                    "write reports/metrics/benchmark_recsys.json.")
    parser.add_argument("--benchmark", action="store_true", help="run the benchmark")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per recurrent model")
    parser.add_argument("--epochs", type=int, default=40, help="most epochs per model")
    parser.add_argument("--budget-min", type=float, default=15.0,
                        help="training time budget per model and seed, in minutes")
    parser.add_argument("--models", default=",".join(RECURRENT),
                        help=f"recurrent models, comma-separated from {', '.join(RECURRENT)}")
    parser.add_argument("--no-untied", action="store_true",
                        help="skip the untied-output GRU (trained on the first seed)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in benchmark_recsys.json and do the rest")
    args = parser.parse_args(argv)
    if not args.benchmark:
        parser.print_help()
        return 2
    models = tuple(m.strip() for m in args.models.split(",") if m.strip())
    unknown = [m for m in models if m not in RECURRENT]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {', '.join(RECURRENT)}")
    result = run_benchmark(args.seeds, args.epochs, args.budget_min * 60, models,
                           untied=not args.no_untied, resume=args.resume)
    print(format_table(result["summary"]))
    print(f"written to {result['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
