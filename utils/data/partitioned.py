"""The purchase study's preprocessing out of core, on pandas or on Dask: the conversion's monthly
Parquet (REES46 events) -> shopper buckets -> sessions -> decision points, features and sequences.

Every shopper's events go to one bucket (a hash of user_id), so filling missing sessions, the
bot rule, the purchase task, the decision points and the user history are computed bucket by
bucket with the functions notebooks 03 and 04 use on the whole log. Memory grows with a bucket,
not with the log. What needs the whole log is reduced from small per-bucket parts, always in
bucket order: the first and last day (for the time split) and the sequence encoder's
vocabularies and scalers (``features.combine_statistics``).

``engine="pandas"`` runs the bucket functions one after the other in this process;
``engine="dask"`` maps the same functions over the buckets on a Dask cluster (a LocalCluster
of ``workers`` processes, or the ``client`` given). Both write the same files with the same
content. Not done here, as it needs the whole log in another order: 03's price errors (a
median per product) and the demographics of a users table (REES46 has none).

``python -m utils.data.partitioned EVENTS OUT [--engine dask --workers 2]`` runs it on the
output of ``convert_rees46`` (default data/raw/rees46_events/).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from utils.core import config, crypto
from utils.core.files import replace_dir, write_json_atomic
from utils.data import clean, explore, features, rees46, sessions
from utils.data.schema import SCHEMA

ENGINES = ("pandas", "dask")
SEQUENCE_ARRAYS = ("event_type", "category", "brand", "numeric", "length")
BUCKET_EVENTS = 400_000  # events per bucket by default


def bucket_of(user_id: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each user id: the same in every process and on every machine."""
    return (pd.util.hash_array(np.asarray(user_id, np.int64)) % np.uint64(buckets)).astype(np.int64)


def split_month(task: tuple[str, int, str]) -> dict:
    """Write the events of one part of the conversion (month=YYYY-MM/part-N.parquet, plain or
    encrypted) into buckets: <out>/bucket=K/events-<month>-<part>.parquet. ``task`` = (file,
    buckets, out). Reads a million rows at a time."""
    path, buckets, out = task
    month = Path(path).parent.name.removeprefix("month=")
    part = Path(path).name.split(".")[0]
    writers: dict[int, pq.ParquetWriter] = {}
    rows = 0
    try:
        for batch in pq.ParquetFile(crypto.for_reading(path)).iter_batches(batch_size=1 << 20):
            batch = pa.Table.from_batches([batch]).cast(SCHEMA)
            bucket = bucket_of(batch.column("user_id").to_numpy(), buckets)
            for k in np.unique(bucket):
                if k not in writers:
                    folder = Path(out) / f"bucket={k:04d}"
                    folder.mkdir(parents=True, exist_ok=True)
                    writers[k] = pq.ParquetWriter(folder / f"events-{month}-{part}.parquet", SCHEMA)
                writers[k].write_table(batch.filter(pa.array(bucket == k)))
            rows += batch.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return {"month": month, "rows": rows}


def _read_bucket(folder: Path) -> pd.DataFrame:
    """A bucket's events in month order, each month in the conversion's row order."""
    parts = [pq.read_table(f, schema=SCHEMA) for f in sorted(folder.glob("events-*.parquet"))]
    return pa.concat_tables(parts).to_pandas() if parts else SCHEMA.empty_table().to_pandas()


def bucket_sessions(task: tuple[str, dict]) -> dict:
    """Pass 1 of a bucket: fill missing sessions (03's inactivity rule), drop bot-like sessions
    (03's rule), build the purchase task (sessions and their input events) and keep them in the
    bucket's folder. Returns counts and the first and last session day."""
    folder, p = Path(task[0]), task[1]
    events = _read_bucket(folder)
    rows_in = len(events)
    events["user_session"], filled = clean.sessionise(events, p["session_gap_minutes"])
    events["user_session"] = events["user_session"].astype("string")
    bots = clean.bot_sessions(explore.session_table(events), p["bot_min_events"],
                              p["bot_events_per_minute"], p["max_session_events"])
    is_bot = events["user_session"].isin(bots.index)
    events = events[~is_bot].reset_index(drop=True)
    events.to_parquet(folder / "clean.parquet")
    table, inputs = sessions.purchase_task(events)
    shared = int((events.groupby("user_session")["user_id"].nunique() > 1).sum())
    table.to_parquet(folder / "sessions.parquet")
    inputs.to_parquet(folder / "inputs.parquet")
    day = table["start"].dt.floor("D")
    return {"bucket": folder.name, "rows_in": rows_in, "sessions_filled_rows": filled,
            "bot_sessions": len(bots), "bot_rows": int(is_bot.sum()), "events": len(events),
            "sessions": len(table), "users": int(table["user_id"].nunique()),
            "sessions_of_several_users": shared,
            "first_day": day.min(), "last_day": day.max()}


def _split(table: pd.DataFrame, p: dict) -> pd.Series:
    """The time split of a bucket's sessions by the first and last day of the whole log."""
    return sessions.time_split(table, p["validation_days"], p["test_days"], p["days"])


def bucket_statistics(task: tuple[str, dict]) -> dict:
    """Pass 2 of a bucket: the encoder statistics of its training sessions' input events."""
    folder, p = Path(task[0]), task[1]
    table = pd.read_parquet(folder / "sessions.parquet")
    inputs = pd.read_parquet(folder / "inputs.parquet")
    is_train = (_split(table, p) == "train").to_numpy()
    return features.encoder_statistics(inputs[is_train[inputs["session"].to_numpy()]])


def bucket_features(task: tuple[str, dict, dict, str]) -> dict:
    """Pass 3 of a bucket: its decision points with their summaries and user features, and its
    sessions' sequences, through the encoder fitted on all buckets (``features.encode_task``).
    Writes <result>/points/<bucket>.parquet (one row per decision point: what the baselines
    read) and <result>/sessions/<bucket>.parquet (one row per session: its label, split, user
    features and first ``max_k`` input events as fixed-size lists ``seq_*``: what the sequence
    models read; a session's decision point k is the model's answer after event k)."""
    folder, p, encoder_dict, result = Path(task[0]), task[1], task[2], Path(task[3])
    encoder = features.SequenceEncoder.from_dict(encoder_dict)
    events = pd.read_parquet(folder / "clean.parquet")
    table = pd.read_parquet(folder / "sessions.parquet")
    inputs = pd.read_parquet(folder / "inputs.parquet")
    table["split"] = _split(table, p)
    is_train = (table["split"] == "train").to_numpy()
    made = features.encode_task(events, table, inputs, encoder, p["max_k"], None, is_train)
    bucket = int(folder.name.removeprefix("bucket="))
    points = made.frame.assign(bucket=bucket)
    by_session = table[["user_session", "user_id", "start", "label", "split"]].assign(
        bucket=bucket, session=np.arange(len(table)),
        n_points=np.minimum(table["n_events"].to_numpy(), p["max_k"]))
    by_session = pa.Table.from_pandas(
        pd.concat([by_session, made.person.add_prefix("user_").reset_index(drop=True)], axis=1),
        preserve_index=False)
    for name in SEQUENCE_ARRAYS:
        by_session = by_session.append_column(f"seq_{name}", _as_list_array(made.arrays[name]))
    for kind, table_out in (("points", pa.Table.from_pandas(points, preserve_index=False)),
                            ("sessions", by_session)):
        (result / kind).mkdir(parents=True, exist_ok=True)
        pq.write_table(table_out, result / kind / f"{folder.name}.parquet", row_group_size=1 << 15)
    split = points["split"].astype("str")
    return {"bucket": folder.name, "points": len(points),
            **{f"{what}_{s}": count for s in sessions.SPLITS for what, count in (
                ("points", int((split == s).sum())),
                ("buying_points", int(points.loc[split == s, "label"].sum())),
                ("sessions", int((table["split"] == s).sum())))},
            "buying_points": int(points["label"].sum()),
            "user_columns": ["user_" + c for c in made.person.columns],
            "user_moments": features.moments(made.person.to_numpy(float)[is_train])}


def _as_list_array(values: np.ndarray) -> pa.Array:
    """A (n, ...) array as a column of fixed-size lists (flattened after the first axis)."""
    if values.ndim == 1:
        return pa.array(values)
    flat = values.reshape(len(values), int(np.prod(values.shape[1:])))  # also with 0 rows
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.ravel()), flat.shape[1])


@contextlib.contextmanager
def engine_map(engine: str, workers: int = 2, client=None) -> Iterator[Callable]:
    """``map(function, tasks) -> results`` in task order: in this process (pandas) or on Dask
    workers (the ``client`` given, or a LocalCluster of ``workers`` single-threaded processes)."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: choose one of {', '.join(ENGINES)}")
    if engine == "pandas":
        yield lambda function, tasks: [function(task) for task in tasks]
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if client is None:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
            client = stack.enter_context(Client(cluster))
        yield lambda function, tasks: client.gather(client.map(function, tasks, pure=False))


def preprocess(events_dir: str | os.PathLike | None = None, out: str | os.PathLike | None = None, *,
               engine: str = "pandas", workers: int = 2, client=None, buckets: int | None = None,
               max_k: int = 10, validation_days: int = 14, test_days: int = 14,
               min_count: int = 5, session_gap_minutes: float = 30, bot_min_events: int = 20,
               bot_events_per_minute: float = 30.0, max_session_events: int = 1000) -> dict:
    """Preprocess converted REES46 events (``events_dir``, default data/raw/rees46_events/) into
    ``out`` (default data/processed/partitioned/): points/ and sessions/ (one Parquet shard per
    bucket; see ``bucket_features``), encoder.json, and summary.json (what each step did and how
    long it took), which is also returned. ``out`` is replaced only once everything has been
    written. The knobs are those of notebooks 03 and 04; ``buckets`` defaults to one per
    BUCKET_EVENTS events, so a bucket, and the memory it takes, stays the same as the log grows."""
    events_dir = Path(events_dir) if events_dir else config.data_dir("raw") / "rees46_events"
    out = Path(out) if out else config.data_dir("processed") / "partitioned"
    months = rees46.converted_parts(events_dir)
    knobs = {"session_gap_minutes": session_gap_minutes, "bot_min_events": bot_min_events,
             "bot_events_per_minute": bot_events_per_minute, "max_session_events": max_session_events,
             "max_k": max_k, "validation_days": validation_days, "test_days": test_days}
    p = dict(knobs)
    if buckets is None:
        rows = sum(pq.read_metadata(crypto.for_reading(f)).num_rows for f in months)
        buckets = max(2, -(-rows // BUCKET_EVENTS))
    work = out.with_name(f".{out.name}.work")
    shutil.rmtree(work, ignore_errors=True)
    try:  # the work folder holds a copy of the log: it never outlives the call
        seconds = {}
        with engine_map(engine, workers, client) as run:
            started = time.perf_counter()
            split = run(split_month, [(str(f), buckets, str(work / "buckets")) for f in months])
            folders = [str(f) for f in sorted((work / "buckets").glob("bucket=*"))]
            seconds["bucket"] = time.perf_counter() - started

            started = time.perf_counter()
            parts = run(bucket_sessions, [(f, p) for f in folders])
            read, bucketed = sum(s["rows"] for s in split), sum(part["rows_in"] for part in parts)
            if read != bucketed:  # every row of the conversion is in exactly one bucket
                raise AssertionError(f"{read:,} rows were read from {events_dir} but the buckets "
                                     f"hold {bucketed:,}")
            if not any(part["sessions"] for part in parts):
                raise ValueError(f"{events_dir}: no session has an input event before a purchase, "
                                 "so there is nothing to predict")
            first = min(part["first_day"] for part in parts if part["sessions"])
            last = max(part["last_day"] for part in parts if part["sessions"])
            p["days"] = (first, last)
            # fails here, before any feature is built, if the log is too short for the split
            sessions.time_split(pd.DataFrame({"start": [first]}), validation_days, test_days, p["days"])
            seconds["sessions"] = time.perf_counter() - started

            started = time.perf_counter()
            statistics = features.combine_statistics(run(bucket_statistics, [(f, p) for f in folders]))
            encoder = features.SequenceEncoder(max_len=max_k, min_count=min_count)
            encoder.fit_statistics(statistics)
            seconds["encoder"] = time.perf_counter() - started

            started = time.perf_counter()
            result = work / "result"
            made = run(bucket_features, [(f, p, encoder.to_dict(), str(result)) for f in folders])
            seconds["features"] = time.perf_counter() - started
        n, user_mean, m2 = functools.reduce(features.combine_moments, [m["user_moments"] for m in made])
        user_std = np.sqrt(m2 / max(n, 1)) + 1e-6
        summary = {
            "engine": engine, "workers": workers if engine == "dask" else 1, "buckets": len(folders),
            "events_dir": str(events_dir),
            "months": {m: sum(s["rows"] for s in split if s["month"] == m)
                       for m in sorted({s["month"] for s in split})},
            "days": [str(first.date()), str(last.date())], "params": {**knobs, "min_count": min_count},
            **{name: sum(part[name] for part in parts)
               for name in ("rows_in", "sessions_filled_rows", "bot_sessions", "bot_rows", "events",
                            "sessions", "users", "sessions_of_several_users")},
            **{name: sum(part[name] for part in made)
               for name in ("points", "buying_points", *(f"{what}_{s}" for s in sessions.SPLITS for what
                                                         in ("points", "buying_points", "sessions")))},
            "vocab_sizes": encoder.vocab_sizes, "n_numeric": len(features.NUMERIC_FEATURES),
            "max_k": max_k, "user_columns": made[0]["user_columns"],
            # the standardisation of the user features, fitted on the training sessions (as 05's)
            "user_mean": user_mean.tolist(), "user_std": user_std.tolist(),
            "seconds": {name: round(value, 2) for name, value in seconds.items()},
        }
        write_json_atomic(result / "encoder.json", encoder.to_dict())
        write_json_atomic(result / "summary.json", summary)
        replace_dir(result, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def read_shards(out: str | os.PathLike, kind: str = "points", split: str | None = None,
                columns: list[str] | None = None) -> pd.DataFrame:
    """The ``kind`` ("points" or "sessions") of ``preprocess``'s output, one split or all, in
    memory: for small logs and tests. Training reads sessions shard by shard (utils.models.shards)."""
    filters = [("split", "=", split)] if split else None
    return pq.read_table(Path(out) / kind, columns=columns, filters=filters).to_pandas()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m utils.data.partitioned", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("events", nargs="?", help="converted events (default data/raw/rees46_events)")
    parser.add_argument("out", nargs="?", help="output folder (default data/processed/partitioned)")
    parser.add_argument("--engine", choices=ENGINES, default="pandas")
    parser.add_argument("--workers", type=int, default=2, help="Dask workers of the LocalCluster")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://host:8786) "
                        "to use instead of a LocalCluster")
    parser.add_argument("--buckets", type=int, help=f"default: one per {BUCKET_EVENTS:,} events")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        client = None
        if args.scheduler:
            from distributed import Client

            client = stack.enter_context(Client(args.scheduler))
        summary = preprocess(args.events, args.out, engine=args.engine, workers=args.workers,
                             client=client, buckets=args.buckets)
    print(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
