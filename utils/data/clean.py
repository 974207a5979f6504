"""Cleaning an event log: missing values, sessionisation, price errors, bots, the quarantine.

``missing_values``, ``inject_bad_rows``, ``sessionise`` (30-minute rule where user_session is
missing), ``price_bounds`` / ``price_errors``, ``bot_sessions``, ``quarantine_rows``,
``restore_dtypes`` and ``accounting``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.data.schema import COLUMNS, TIME_FORMAT
from utils.data.validate import QUARANTINE_COLUMNS


def missing_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values per column (empty strings count as missing), with their share."""
    missing = {}
    for col in frame.columns:
        values = frame[col]
        empty = values.isna()
        if not pd.api.types.is_numeric_dtype(values) and \
                not pd.api.types.is_datetime64_any_dtype(values):
            empty |= values.astype("str").eq("")
        missing[col] = int(empty.sum())
    out = pd.Series(missing, name="missing").to_frame()
    out["share"] = out["missing"] / max(len(frame), 1)
    return out


BAD_KINDS = ("invalid event_type", "negative price", "missing price", "unreadable event_time",
             "missing user_id", "exact duplicate", "price typo (x100)")


def inject_bad_rows(events: pd.DataFrame, share: float, seed: int = 0,
                    bot_events: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A copy of ``events`` with damage added on purpose, to exercise the cleaning steps.

    About ``share`` x len(events) damaged copies of random rows are appended (split evenly
    over BAD_KINDS, at least one of each), plus one bot-like session of ``bot_events`` views in
    one minute; as many original rows lose their user_session (blanked in place, so the
    30-minute rule has work to do). The original rows keep their positions: rows past
    len(events) are the added ones. Returns (frame, what was injected: kind, rows).
    """
    if share <= 0:
        return events.copy(), pd.DataFrame({"kind": [], "rows": []}).astype({"rows": "int64"})
    rng = np.random.default_rng(seed)
    n = len(events)
    per_kind = max(1, round(share * n / len(BAD_KINDS)))
    frame = events.astype({"event_type": "object", "user_session": "object",
                           "user_id": "Int64"})
    blank = rng.choice(n, per_kind, replace=False)
    frame.iloc[blank, frame.columns.get_loc("user_session")] = np.nan
    added = []
    for kind in BAD_KINDS:
        rows = frame.iloc[rng.choice(n, per_kind, replace=per_kind > n)].copy()
        if kind == "invalid event_type":
            rows["event_type"] = "click"
        elif kind == "negative price":
            rows["price"] = -rows["price"] - 1
        elif kind == "missing price":
            rows["price"] = np.nan
        elif kind == "unreadable event_time":
            rows["event_time"] = pd.Series(pd.NaT, index=rows.index,
                                           dtype=events["event_time"].dtype)
        elif kind == "missing user_id":
            rows["user_id"] = pd.NA
        elif kind == "price typo (x100)":
            rows["price"] = rows["price"] * 100
        added.append(rows)
    bot = frame.iloc[rng.choice(n, bot_events)].copy()
    start = events["event_time"].min() + (events["event_time"].max()
                                          - events["event_time"].min()) / 2
    seconds = pd.to_timedelta(np.sort(rng.integers(0, 60, bot_events)), unit="s")
    bot["event_time"] = (start.floor("s") + seconds).astype(events["event_time"].dtype)
    bot["event_type"] = "view"
    bot["user_id"] = int(events["user_id"].max()) + 1
    bot["user_session"] = "00000000-b0b0-4000-8000-000000000000"
    added.append(bot)
    frame = pd.concat([frame, *added], ignore_index=True)
    log = pd.DataFrame({
        "kind": [*BAD_KINDS, "bot-like session (one user, views in one minute)",
                 "user_session blanked (original rows)"],
        "rows": [per_kind] * len(BAD_KINDS) + [bot_events, per_kind],
    })
    return frame, log


def sessionise(events: pd.DataFrame, gap_minutes: float = 30) -> tuple[pd.Series, int]:
    """user_session with the missing ids filled in by an inactivity rule.

    Among a user's events that have no user_session, a new session starts at the first one and
    after every gap of more than ``gap_minutes``; its id is f"{user_id}-{n}" with n = 0, 1, ...
    in time order, so reruns give the same ids. Existing ids are kept. Rows without a readable
    event_time or user_id stay missing (validation quarantines them). Returns (the column as
    strings, how many rows were filled).
    """
    session = events["user_session"].astype("str")
    missing = session.isna() | session.eq("")
    time = pd.to_datetime(events["event_time"], utc=True, errors="coerce")
    # nullable integers: through float64 a large id (a pseudonym has 63 bits) would be rounded
    user = pd.to_numeric(events["user_id"], errors="coerce", dtype_backend="numpy_nullable")
    todo = missing & time.notna() & (user % 1 == 0).fillna(False).astype(bool)
    part = pd.DataFrame({"user": user[todo].astype("int64"), "time": time[todo]})
    part = part.sort_values(["user", "time"], kind="stable")
    starts = part["user"].ne(part["user"].shift()) | (
        part["time"].diff() > pd.Timedelta(minutes=gap_minutes))
    number = starts.astype("int64").groupby(part["user"]).cumsum() - 1
    filled = session.copy()
    filled.loc[part.index] = part["user"].astype("str") + "-" + number.astype("str")
    return filled, int(todo.sum())


def price_bounds(price: pd.Series, k: float = 3.0) -> tuple[float, float]:
    """(low, high): prices beyond Q1 - k IQR or Q3 + k IQR of log(price), positive prices."""
    logs = np.log(price[price > 0].astype(float))
    if logs.empty:
        return 0.0, float("inf")
    q1, q3 = logs.quantile([0.25, 0.75])
    return float(np.exp(q1 - k * (q3 - q1))), float(np.exp(q3 + k * (q3 - q1)))


def price_errors(events: pd.DataFrame, factor: float = 10.0,
                 bounds: tuple[float, float] = (0.0, np.inf), min_events: int = 3) -> pd.Series:
    """The reason each likely price error is flagged (index: the row's; others left out).

    A price is an error if it is more than ``factor`` times above or below its product's median
    price (products with at least ``min_events`` events), or, for products with too few events
    to be judged against themselves, if it lies outside ``bounds`` (see ``price_bounds``).
    """
    by_product = events.groupby("product_id")["price"]
    median = by_product.transform("median")
    judged = by_product.transform("size") >= min_events
    ratio = events["price"] / median.where(median > 0)
    off = judged & ((ratio > factor) | (ratio < 1 / factor))
    extreme = ~judged & ((events["price"] < bounds[0]) | (events["price"] > bounds[1]))
    reason = pd.Series(pd.NA, index=events.index, dtype="object")
    reason[off] = f"price more than {factor:g}x off the product's median price"
    reason[extreme] = (f"price outside ${bounds[0]:.2f}..${bounds[1]:.2f} for a product with "
                       f"under {min_events} events")
    return reason.dropna().astype("str")


def bot_sessions(sessions: pd.DataFrame, min_events: int = 20, max_per_minute: float = 30.0,
                 max_events: int = 1000) -> pd.Series:
    """The reason each bot-like session is flagged (index: user_session; others left out).

    Bot-like: at least ``min_events`` events at more than ``max_per_minute`` events per minute
    (from first to last event), or more than ``max_events`` events in one session.
    """
    minutes = sessions["duration_s"] / 60
    rate = (sessions["events"] - 1) / minutes.where(minutes > 0)
    rate = rate.fillna(np.inf)
    fast = (sessions["events"] >= min_events) & (rate > max_per_minute)
    huge = sessions["events"] > max_events
    reason = pd.Series(pd.NA, index=sessions.index, dtype="object")
    reason[fast] = (f"bot-like session: {min_events}+ events at more than "
                    f"{max_per_minute:g} per minute")
    reason[huge] = f"bot-like session: more than {max_events} events"
    return reason.dropna().astype("str")


def _raw_text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime(TIME_FORMAT)
    else:
        text = values.astype("object").map(lambda v: None if pd.isna(v) else str(v))
    return text.astype("str")


def quarantine_rows(rows: pd.DataFrame, reason, source_file: str, lines) -> pd.DataFrame:
    """Rows set aside, in the quarantine layout (QUARANTINE_COLUMNS, values as text)."""
    out = pd.DataFrame({"source_file": source_file, "line": np.asarray(lines, dtype="int64"),
                        "reason": reason}, index=rows.index)
    for col in COLUMNS:
        out[col] = _raw_text(rows[col])
    out["extra_fields"] = None
    out = out.astype({c: "str" for c in QUARANTINE_COLUMNS if c != "line"})
    return out[list(QUARANTINE_COLUMNS)].reset_index(drop=True)


def restore_dtypes(frame: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s event columns with the dtypes of ``like`` (categories are extended, never
    lost), in the same column order."""
    out = {}
    for col in COLUMNS:
        dtype = like[col].dtype
        values = frame[col]
        if isinstance(dtype, pd.CategoricalDtype):
            values = values.astype("str")
            extra = pd.Index(values.dropna().unique()).difference(dtype.categories)
            if len(extra):
                dtype = pd.CategoricalDtype(dtype.categories.append(extra), dtype.ordered)
        out[col] = values.astype(dtype)
    return pd.DataFrame(out, index=frame.index)


def accounting(rows_in: int, kept: int, duplicates: int, quarantine: pd.DataFrame) -> dict:
    """The row accounting of the cleaning: raises unless rows in = kept + quarantined +
    duplicates removed; returns the counts, with quarantined rows by reason."""
    result = {"rows_in": int(rows_in), "kept": int(kept), "quarantined": len(quarantine),
              "duplicates_removed": int(duplicates),
              "by_reason": quarantine["reason"].value_counts().to_dict()}
    if rows_in != kept + len(quarantine) + duplicates:
        raise AssertionError(f"row accounting is off: {result}")
    return result

