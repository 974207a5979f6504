"""Tests of utils.data.dictionary: the interim layout, sessionisation, the cleaning rules, the row
accounting, the data dictionary against data/README.md, and notebooks 01-03 end to end
(their logic, without the notebooks; nbval runs the notebooks themselves)."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from utils.core import config
from utils.data import clean, collect, dictionary, explore
from utils.data.schema import COLUMNS
from utils.data.validate import validate_events

T0 = pd.Timestamp("2019-12-01 10:00:00", tz="UTC")


def _events(rows) -> pd.DataFrame:
    """A small typed event frame from (minutes after T0, user, session, type, product, price)."""
    frame = pd.DataFrame(rows, columns=["minutes", "user_id", "user_session", "event_type",
                                        "product_id", "price"])
    return pd.DataFrame({
        "event_time": (T0 + pd.to_timedelta(frame["minutes"], unit="min")).astype(
            "datetime64[s, UTC]"),
        "event_type": pd.Categorical(frame["event_type"],
                                     ["view", "cart", "remove_from_cart", "purchase"]),
        "product_id": frame["product_id"].astype("int64"),
        "category_id": np.int64(1487580005268456287),
        "category_code": pd.Categorical([None] * len(frame), categories=["skincare.face.serum"]),
        "brand": pd.Categorical(["runail"] * len(frame)),
        "price": frame["price"].astype(float),
        "user_id": frame["user_id"].astype("int64"),
        "user_session": pd.Series(frame["user_session"], dtype="str"),
    })


# --------------------------------------------------------------------------- sessionisation

def test_sessionise_starts_a_new_session_after_more_than_30_minutes():
    events = _events([
        (0, 7, None, "view", 1, 1.0), (10, 7, None, "view", 2, 1.0),
        (40, 7, None, "cart", 2, 1.0),   # exactly 30 minutes later: same session
        (71, 7, None, "view", 3, 1.0),   # 31 minutes later: a new one
        (5, 8, None, "view", 1, 1.0),
    ])
    sessions, filled = clean.sessionise(events, gap_minutes=30)
    assert filled == 5
    assert sessions.tolist() == ["7-0", "7-0", "7-0", "7-1", "8-0"]


def test_sessionise_keeps_existing_ids_and_numbers_missing_ones_in_time_order():
    events = _events([
        (50, 7, None, "view", 1, 1.0), (0, 7, "abc", "view", 1, 1.0),
        (0, 7, None, "view", 2, 1.0), (1, 7, "abc", "cart", 1, 1.0),
    ])
    sessions, filled = clean.sessionise(events)
    assert filled == 2
    assert sessions.tolist() == ["7-1", "abc", "7-0", "abc"]  # numbered by time, not row order


def test_sessionise_is_deterministic_whatever_the_row_order():
    rng = np.random.default_rng(0)
    minutes, users = rng.integers(0, 600, 60), rng.integers(1, 5, 60)
    events = _events([(int(m), int(u), None, "view", 1, 1.0)
                      for m, u in zip(minutes, users, strict=True)])
    first, _ = clean.sessionise(events)
    shuffled = events.sample(frac=1, random_state=1)
    again, _ = clean.sessionise(shuffled)
    pd.testing.assert_series_equal(first, again.loc[first.index])


def test_sessionise_leaves_rows_without_a_time_or_user_missing():
    events = _events([(0, 7, None, "view", 1, 1.0), (1, 8, None, "view", 1, 1.0)])
    events["user_id"] = events["user_id"].astype("Int64")
    events.loc[1, "user_id"] = pd.NA
    events.loc[0, "event_time"] = pd.NaT
    sessions, filled = clean.sessionise(events)
    assert filled == 0 and sessions.isna().all()


def test_sessionise_keeps_every_digit_of_a_pseudonymised_user_id():
    pseudonym = 1139455130330554123  # 63 bits: float64 would round it to ...112
    events = _events([(0, pseudonym, None, "view", 1, 1.0), (1, 7, None, "view", 1, 1.0)])
    events["user_id"] = events["user_id"].astype("object")  # as after the cleaning step's injection
    events.loc[1, "user_id"] = pd.NA
    sessions, filled = clean.sessionise(events)
    assert filled == 1 and sessions.iloc[0] == f"{pseudonym}-0" and pd.isna(sessions.iloc[1])


# ---------------------------------------------------------------------------- cleaning rules

def test_price_errors_catch_a_misplaced_decimal_but_not_a_discount():
    events = _events([(i, 1, "s", "view", 10, 5.0) for i in range(5)]
                     + [(9, 1, "s", "view", 10, 500.0),   # 100x: an error
                        (9, 1, "s", "view", 10, 3.5),     # a 30% discount: fine
                        (9, 1, "s", "view", 20, 900.0),   # only 2 events of product 20:
                        (9, 1, "s", "view", 20, 900.0)])  # judged by the shop-wide bounds
    errors = clean.price_errors(events, factor=10, bounds=(1.0, 100.0))
    assert errors.index.tolist() == [5, 7, 8]
    assert "10x off the product's median" in errors[5]
    assert "under 3 events" in errors[7]


def test_price_bounds_are_quartiles_of_log_price_plus_k_iqr():
    price = pd.Series([1.0, 2.0, 4.0, 8.0, 16.0])  # log2 quartiles at 2 and 8: IQR = log(4)
    low, high = clean.price_bounds(price, k=1.0)
    assert low == pytest.approx(0.5) and high == pytest.approx(32.0)


def test_bot_sessions_flags_fast_and_huge_sessions_only():
    sessions = pd.DataFrame({
        "events": [60, 20, 25, 1200, 5],
        "duration_s": [59.0, 0.0, 3600.0, 86000.0, 0.0],
    }, index=["fast", "burst", "slow", "huge", "short"])
    flagged = clean.bot_sessions(sessions, min_events=20, max_per_minute=30,
                                      max_events=1000)
    assert sorted(flagged.index) == ["burst", "fast", "huge"]
    assert "more than 1000 events" in flagged["huge"]


def test_accounting_must_add_up():
    quarantine = pd.DataFrame({"reason": ["a", "a", "b"]})
    counts = clean.accounting(rows_in=10, kept=6, duplicates=1, quarantine=quarantine)
    assert counts["by_reason"] == {"a": 2, "b": 1} and counts["quarantined"] == 3
    with pytest.raises(AssertionError, match="accounting is off"):
        clean.accounting(rows_in=11, kept=6, duplicates=1, quarantine=quarantine)


def test_restore_dtypes_extends_categories_instead_of_losing_values():
    like = _events([(0, 1, "a", "view", 1, 1.0)])
    like["user_session"] = like["user_session"].astype("category")
    frame = _events([(0, 1, "a", "view", 1, 1.0), (1, 1, "1-0", "cart", 1, 1.0)])
    out = clean.restore_dtypes(frame, like)
    assert out["user_session"].tolist() == ["a", "1-0"]
    assert isinstance(out["user_session"].dtype, pd.CategoricalDtype)
    assert list(out.dtypes.astype(str)) == list(like.dtypes.astype(str))


def test_missing_values_count_empty_strings():
    frame = pd.DataFrame({"a": ["x", "", None], "b": [1.0, np.nan, 2.0]})
    counts = clean.missing_values(frame)
    assert counts["missing"].to_dict() == {"a": 2, "b": 1}


# ------------------------------------------------------------------------- exploration helpers

def test_funnel_counts_sessions_and_users_reaching_each_step():
    events = _events([(0, 1, "s1", "view", 1, 1.0), (1, 1, "s1", "cart", 1, 1.0),
                      (2, 1, "s2", "view", 1, 1.0), (3, 2, "s3", "view", 1, 1.0),
                      (4, 2, "s3", "purchase", 1, 1.0)])
    steps = explore.funnel(explore.session_table(events))
    assert steps["sessions"].to_dict() == {"view": 3, "cart": 1, "purchase": 1}
    assert steps["users"].to_dict() == {"view": 2, "cart": 1, "purchase": 1}
    assert steps.loc["purchase", "share_of_sessions"] == pytest.approx(1 / 3)


def test_retail_dates_inside_the_window():
    dates = explore.retail_dates(pd.Timestamp("2019-10-01"), pd.Timestamp("2020-02-27"))
    assert dates == {"Black Friday 2019": pd.Timestamp("2019-11-29"),
                     "Christmas 2019": pd.Timestamp("2019-12-25"),
                     "Valentine's Day 2020": pd.Timestamp("2020-02-14")}
    assert explore.retail_dates(pd.Timestamp("2019-10-01"), pd.Timestamp("2019-10-31")) == {}


def test_repeat_purchase_intervals_one_purchase_per_session():
    day = 24 * 60
    events = _events([(0, 1, "a", "purchase", 5, 1.0), (1, 1, "a", "purchase", 5, 1.0),
                      (30 * day, 1, "b", "purchase", 5, 1.0), (2, 2, "c", "purchase", 5, 1.0)])
    products = pd.DataFrame({"product_id": [5], "cycle_days": [30.0]})
    intervals = explore.repeat_purchase_intervals(events, products)
    assert intervals["days"].round(3).tolist() == [30.0]
    assert intervals["cycle_days"].tolist() == [30.0]


def test_cohort_retention_leaves_weeks_past_the_data_blank():
    day = 24 * 60
    events = _events([(0, 1, "a", "view", 1, 1.0), (8 * day, 1, "b", "view", 1, 1.0),
                      (8 * day, 2, "c", "view", 1, 1.0), (15 * day, 3, "d", "view", 1, 1.0),
                      (20 * day, 3, "e", "view", 1, 1.0)])
    retention = explore.cohort_retention(events, weeks=3)  # 21 days: three full weeks
    assert retention["users"].tolist() == [1, 1, 1]
    assert retention[1].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(retention.iloc[1][2]) and np.isnan(retention.iloc[2][1])


# ------------------------------------------------------------------ dictionary and README

def test_data_readme_holds_the_data_dictionary_verbatim():
    readme = (config.PROJECT_ROOT / "data" / "README.md").read_text(encoding="utf-8")
    assert dictionary.dictionary_markdown() in readme, (
        "data/README.md and utils.data.dictionary.DICTIONARY disagree: paste the output of "
        "`python -m utils.data.dictionary` between the dictionary markers of data/README.md")
    for entry in dictionary.DICTIONARY.values():
        for column in entry["columns"]:
            assert f"| `{column}` |" in readme


def test_undocumented_columns_are_reported():
    frame = pd.DataFrame({"user_id": [1], "shoe_size": [40]})
    assert dictionary.undocumented_columns({"users": frame}) == {"users": ["shoe_size"]}


# ---------------------------------------------------------------- notebooks 01-03 end to end

def _clean(events: pd.DataFrame, share: float, seed: int = 0):
    """The steps of 03_preprocessing, in its order (kept short on purpose)."""
    n_original = len(events)
    frame, injected = clean.inject_bad_rows(events, share, seed=seed)
    frame["user_session"], _ = clean.sessionise(frame)
    frame["_row"] = np.arange(len(frame))
    valid, invalid, _ = validate_events(frame, "events.parquet", drop_duplicates=False)
    duplicated = valid.duplicated(subset=list(COLUMNS))
    valid = valid[~duplicated]
    errors = clean.price_errors(valid, 10.0, clean.price_bounds(valid["price"]))
    flagged = valid.loc[errors.index]
    price_q = clean.quarantine_rows(flagged, errors.to_numpy(), "", flagged["_row"])
    valid = valid.drop(index=errors.index)
    bots = clean.bot_sessions(explore.session_table(valid))
    bot_rows = valid["user_session"].isin(bots.index)
    bot_q = clean.quarantine_rows(valid[bot_rows], valid.loc[bot_rows, "user_session"]
                                       .map(bots).to_numpy(), "", valid.loc[bot_rows, "_row"])
    valid = valid[~bot_rows]
    quarantine = pd.concat([invalid, price_q, bot_q], ignore_index=True)
    quarantine["source_file"] = np.where(quarantine["line"] < n_original, "events", "injected")
    counts = clean.accounting(len(frame), len(valid), int(duplicated.sum()), quarantine)
    cleaned = clean.restore_dtypes(valid.sort_values(["event_time", "_row"]), events)
    return cleaned.reset_index(drop=True), quarantine, counts, injected


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    return tmp_path


def test_simulated_source_end_to_end(workdir):
    tables, truth, params = collect.collect("simulated", n_users=600, n_days=30, seed=3)
    collect.write_interim(tables, truth, "simulated", params)

    interim = workdir / "data" / "interim"
    for name in collect.INTERIM_TABLES:
        assert (interim / f"{name}.parquet").is_file()
    assert sorted(p.name for p in (interim / "truth").iterdir()) == [
        "session_truth.parquet", "user_truth.parquet"]
    info = json.loads((interim / "source.json").read_text())
    assert set(info) == {"source", "tables", "params"} and info["source"] == "simulated"
    assert info["tables"] == list(collect.INTERIM_TABLES)
    assert not dictionary.undocumented_columns(
        {n: collect.load_interim(n) for n in [*info["tables"], *collect.TRUTH_TABLES]})
    assert not list(interim.glob(".*tmp*")), "temporary files left behind"

    events = collect.load_interim("events")
    assert list(events.columns) == list(COLUMNS)
    pd.testing.assert_series_equal(events["event_time"], tables["events"]["event_time"])

    # 02: the exploration helpers run on it and agree with each other
    sessions = explore.session_table(events)
    assert sessions["events"].sum() == len(events)
    steps = explore.funnel(sessions)
    assert steps.loc["view", "sessions"] == len(sessions)
    assert explore.conversion_by(sessions, "hour")["sessions"].sum() == len(sessions)
    assert explore.daily_activity(events)["events"].sum() == len(events)

    # 03: every injected kind is caught, the accounting holds, the original rows survive
    clean, quarantine, counts, injected = _clean(events, share=0.01)
    per_kind = int(injected["rows"].iloc[0])
    reasons = quarantine["reason"].value_counts()
    for fragment in ["event_type is not", "price is negative", "price missing",
                     "event_time is not", "user_id missing", "bot-like session"]:
        assert reasons[reasons.index.str.contains(fragment)].sum() >= per_kind, fragment
    price_errors = reasons[reasons.index.str.startswith("price ")
                           & ~reasons.index.str.contains("negative|missing")].sum()
    assert price_errors == per_kind
    assert (quarantine["source_file"] == "injected").all()  # no original row was rejected
    assert counts["rows_in"] == len(events) + injected["rows"].iloc[:-1].sum()
    assert list(clean.dtypes.astype(str)) == list(events.dtypes.astype(str))
    assert clean["user_session"].notna().all()
    originals = events.drop_duplicates()
    assert len(clean) == len(originals)  # only the data's own exact duplicates went
    np.testing.assert_array_equal(clean["price"], originals["price"])

    collect.write_table(clean, "clean_events")
    collect.write_table(quarantine, "quarantine")
    assert list(collect.load_interim("quarantine").columns) == list(
        dictionary.DICTIONARY["quarantine"]["columns"])
    pd.testing.assert_frame_equal(collect.load_interim("clean_events"), clean,
                                  check_categorical=False)


def test_clean_data_without_injection_loses_nothing_but_duplicates(workdir):
    tables, _, _ = collect.collect("simulated", n_users=400, n_days=20, seed=5)
    clean, quarantine, counts, injected = _clean(tables["events"], share=0.0)
    assert injected.empty and quarantine.empty
    assert counts["kept"] + counts["duplicates_removed"] == len(tables["events"])


@pytest.mark.skipif(not os.environ.get("BEAUTY_DATA_MIRROR"),
                    reason="needs the shared data mirror (BEAUTY_DATA_MIRROR)")
def test_rees46_sample_goes_through_the_conversion_and_replaces_simulated_tables(workdir):
    tables, truth, params = collect.collect("simulated", n_users=200, n_days=10)
    collect.write_interim(tables, truth, "simulated", params)
    collect.write_table(tables["events"], "clean_events")

    tables, truth, params = collect.collect("rees46_sample")
    collect.write_interim(tables, truth, "rees46_sample", params)
    interim = workdir / "data" / "interim"
    assert sorted(p.name for p in interim.glob("*.parquet")) == ["events.parquet", "products.parquet"]
    assert not list((interim / "truth").glob("*.parquet"))
    raw = workdir / "data" / "raw"  # the conversion's own output holds the raw ids: it stays in raw/
    assert (raw / "rees46_events").is_dir() and (raw / "rees46_events_quarantine.parquet").is_file()
    assert not (interim / "rees46_events").exists()
    assert params["rows_read"] == 100 and params["files"] == ["2019-Dec-sample.csv"]
    info = collect.read_source_info()
    assert info["tables"] == ["events", "products"] and info["source"] == "rees46_sample"

    events = collect.load_interim("events")
    products = collect.load_interim("products")
    assert len(events) == params["rows_kept"] and list(events.columns) == list(COLUMNS)
    assert list(products.columns) == ["product_id", "category_id", "category_code", "brand",
                                      "price"]
    assert products["product_id"].is_unique
    assert set(products["product_id"]) == set(events["product_id"])
    assert not dictionary.undocumented_columns({"events": events, "products": products})
    clean, quarantine, counts, _ = _clean(events, share=0.0)
    assert counts["rows_in"] == len(events) and counts["kept"] == len(clean)


def test_rees46_without_files_says_where_to_put_them(workdir):
    with pytest.raises(FileNotFoundError, match=r"data/raw/rees46.*rees46_sample"):
        collect.collect("rees46")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"source": "kaggle"}, "unknown source 'kaggle'"),
    ({"source": "simulated", "catalogue": "ulta"}, "unknown catalogue 'ulta'"),
])
def test_unknown_choices_are_explained(workdir, kwargs, message):
    with pytest.raises(ValueError, match=message):
        collect.collect(**kwargs)


def test_a_table_is_written_whole_or_not_at_all(workdir):
    import pyarrow as pa

    table = pd.DataFrame({"x": [1, 2]})
    path = collect.write_table(table, "events")
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        collect.write_table(pd.DataFrame({"x": [1, "two"]}), "events")  # Arrow refuses mixed types
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)  # the earlier table is intact
    assert [p.name for p in path.parent.iterdir()] == ["events.parquet"]  # no temporary file left
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # the mode a plain open() gives


def test_load_interim_names_the_missing_file_and_its_step(workdir):
    with pytest.raises(FileNotFoundError, match=r"clean_events.parquet is missing: the cleaning "
                                                r"step writes it.*docs/DESIGN.md"):
        collect.load_interim("clean_events")
    with pytest.raises(FileNotFoundError, match=r"source.json is missing: the collection step"):
        collect.read_source_info()
