"""The out-of-core preprocessing (utils.data.partitioned): on Dask it writes what it writes on
pandas, and bucket by bucket it computes what notebooks 03-04's functions compute on the whole log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from utils.core import crypto
from utils.data import clean, explore, features, partitioned, sessions
from utils.data.rees46 import convert_rees46, load_rees46_events, write_rees46_csv
from utils.data.simulate import simulate_shop

KNOBS = {"buckets": 4, "validation_days": 14, "test_days": 14, "max_k": 6, "min_count": 3}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A simulated shop in REES46's CSV format, with one bot session, converted."""
    folder = tmp_path_factory.mktemp("shop")
    events = simulate_shop(n_users=600, n_days=120, seed=3).events
    bot = events.iloc[[0] * 40].copy()  # 40 events in 40 seconds: the bot rule's target
    bot["event_time"] = bot["event_time"].iloc[0] + pd.to_timedelta(np.arange(40), unit="s")
    bot["user_session"] = "bot-session"
    events = pd.concat([events, bot]).sort_values("event_time", kind="stable")
    write_rees46_csv(events, folder / "csv")
    convert_rees46(folder / "csv", folder / "events")
    return folder


@pytest.fixture(scope="module")
def on_pandas(converted):
    summary = partitioned.preprocess(converted / "events", converted / "pandas", **KNOBS)
    return converted / "pandas", summary


def test_every_shopper_is_in_one_bucket_whatever_the_process():
    ids = np.array([1, 2, 3, 10_000_000_000, 2**62 + 5], np.int64)
    here = partitioned.bucket_of(ids, 7).tolist()
    code = ("import numpy as np; from utils.data.partitioned import bucket_of; "
            f"print(bucket_of(np.array({ids.tolist()}, np.int64), 7).tolist())")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(there.stdout) == here
    assert all(0 <= b < 7 for b in here)


def test_dask_writes_what_pandas_writes(converted, on_pandas):
    folder, summary = on_pandas
    on_dask = partitioned.preprocess(converted / "events", converted / "dask", engine="dask",
                                     workers=2, **KNOBS)
    for kind in ("points", "sessions"):
        pd.testing.assert_frame_equal(partitioned.read_shards(folder, kind),
                                      partitioned.read_shards(converted / "dask", kind))
    assert (converted / "dask" / "encoder.json").read_text() == (folder / "encoder.json").read_text()
    same = {k: v for k, v in summary.items() if k not in ("engine", "workers", "seconds")}
    assert {k: v for k, v in on_dask.items() if k in same} == same
    assert on_dask["engine"] == "dask" and on_dask["workers"] == 2


def whole_log(events: pd.DataFrame):
    """Notebooks 03-04's steps on the whole log at once (what the buckets must add up to)."""
    events = events.copy()
    events["user_session"], _ = clean.sessionise(events)
    bots = clean.bot_sessions(explore.session_table(events))
    events = events[~events["user_session"].isin(bots.index)].reset_index(drop=True)
    table, inputs = sessions.purchase_task(events)
    table["split"] = sessions.time_split(table, KNOBS["validation_days"], KNOBS["test_days"])
    is_train = (table["split"] == "train").to_numpy()
    encoder = features.SequenceEncoder(max_len=KNOBS["max_k"], min_count=KNOBS["min_count"])
    encoder.fit(inputs[is_train[inputs["session"].to_numpy()]])
    made = features.encode_task(events, table, inputs, encoder, KNOBS["max_k"], None, is_train)
    return made, encoder, bots


def test_the_buckets_add_up_to_the_whole_log(converted, on_pandas):
    folder, summary = on_pandas
    made, encoder, bots = whole_log(load_rees46_events(converted / "events"))
    assert summary["bot_sessions"] == len(bots) == 1
    saved = json.loads((folder / "encoder.json").read_text())
    assert saved["categories"] == {str(k): v for k, v in encoder.categories.items()}
    assert saved["brands"] == encoder.brands and saved["top_brands"] == encoder.top_brands
    for name in ("log_price", "log_gap"):  # combined moments: equal up to rounding
        assert saved["means"][name] == pytest.approx(encoder.means[name], rel=1e-12)
        assert saved["stds"][name] == pytest.approx(encoder.stds[name], rel=1e-12)

    expected = made.frame.sort_values(["user_session", "k"], ignore_index=True)
    got = partitioned.read_shards(folder).sort_values(["user_session", "k"], ignore_index=True)
    assert len(got) == len(expected) == summary["points"]
    for column in ["user_id", "k", "label", "start", "end", *made.user_columns]:
        pd.testing.assert_series_equal(got[column], expected[column], check_dtype=False)
    assert (got["split"].astype(str) == expected["split"].astype(str)).all()
    np.testing.assert_allclose(got[made.aggregate_columns].to_numpy(float),
                               expected[made.aggregate_columns].to_numpy(float), rtol=1e-9, atol=1e-12)

    by_session = partitioned.read_shards(folder, "sessions").sort_values("user_session", ignore_index=True)
    rows = made.points.drop_duplicates("session").set_index("user_session")["session"]
    order = rows.loc[by_session["user_session"]].to_numpy()
    for name in ("event_type", "category", "brand", "length"):
        np.testing.assert_array_equal(np.stack(by_session[f"seq_{name}"]) if name != "length"
                                      else by_session["seq_length"], made.arrays[name][order])
    numeric = np.stack(by_session["seq_numeric"]).reshape(made.arrays["numeric"][order].shape)
    np.testing.assert_allclose(numeric, made.arrays["numeric"][order], rtol=1e-5, atol=1e-6)


def test_combined_statistics_fit_the_encoder_that_fits_all_at_once():
    rng = np.random.default_rng(0)
    n = 500
    inputs = pd.DataFrame({
        "event_time": pd.Timestamp("2020-01-01", tz="UTC")
        + pd.to_timedelta(np.sort(rng.integers(0, 10**6, n)), "s"),
        "event_type": rng.choice(["view", "cart"], n), "product_id": rng.integers(0, 50, n),
        "category_id": rng.integers(0, 8, n), "brand": rng.choice(["a", "b", None], n),
        "price": rng.lognormal(1, 1, n), "session": np.sort(rng.integers(0, 60, n))})
    whole = features.SequenceEncoder(min_count=2).fit(inputs)
    cut = [0, *inputs["session"].searchsorted([20, 45]), n]  # whole sessions in each part
    parts = [features.encoder_statistics(inputs.iloc[a:b]) for a, b in zip(cut[:-1], cut[1:], strict=True)]
    combined = features.SequenceEncoder(min_count=2).fit_statistics(features.combine_statistics(parts))
    assert combined.categories == whole.categories and combined.brands == whole.brands
    assert combined.top_categories == whole.top_categories
    for name in ("log_price", "log_gap"):
        assert combined.means[name] == pytest.approx(whole.means[name], rel=1e-12)
        assert combined.stds[name] == pytest.approx(whole.stds[name], rel=1e-12)


def test_a_log_too_short_for_the_split_and_a_missing_folder_are_refused(converted, tmp_path):
    with pytest.raises(ValueError, match="too few"):
        partitioned.preprocess(converted / "events", tmp_path / "out", buckets=2,
                               validation_days=60, test_days=60)
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.work").exists()
    with pytest.raises(FileNotFoundError, match="holds no converted events"):
        partitioned.preprocess(tmp_path / "nothing", tmp_path / "out")
    with pytest.raises(ValueError, match="engine 'spark'"):
        partitioned.preprocess(converted / "events", tmp_path / "out", engine="spark")


def test_encrypted_parts_and_several_parts_a_month_are_all_read(converted, on_pandas, tmp_path):
    folder, summary = on_pandas
    events = tmp_path / "events"
    shutil.copytree(converted / "events", events)
    month = sorted(events.glob("month=*"))[0]
    table = pq.read_table(month / "part-0000.parquet")  # one month cut in two parts
    pq.write_table(table.slice(0, 100), month / "part-0000.parquet")
    pq.write_table(table.slice(100), month / "part-0001.parquet")
    crypto.encrypt_file(month / "part-0001.parquet", crypto.secret_key("encryption"), remove_plain=True)
    again = partitioned.preprocess(events, tmp_path / "out", **KNOBS)
    assert again["rows_in"] == summary["rows_in"] and again["months"] == summary["months"]
    pd.testing.assert_frame_equal(
        partitioned.read_shards(tmp_path / "out").sort_values(["user_session", "k"], ignore_index=True),
        partitioned.read_shards(folder).sort_values(["user_session", "k"], ignore_index=True))
