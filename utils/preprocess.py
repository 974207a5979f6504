"""Collect, explore and clean the shop's events: the helpers behind notebooks 01-03.

- Collection (01): ``collect`` builds the interim tables from the simulator or from REES46 CSVs,
  ``write_interim`` writes them atomically to data/interim/ (the layout later notebooks rely
  on), ``load_interim`` reads them back, and ``DICTIONARY`` describes every column of every
  table (``dictionary_markdown`` renders it for the notebook and for data/README.md).
- Exploration (02): ``session_table``, ``funnel``, ``conversion_by``, ``daily_activity``,
  ``retail_dates``, ``mix``, ``repeat_purchase_intervals``, ``cohort_retention``.
- Cleaning (03): ``missing_values``, ``inject_bad_rows``, ``sessionise`` (30-minute rule where
  user_session is missing), ``price_bounds`` / ``price_errors``, ``bot_sessions``,
  ``quarantine_rows``, ``restore_dtypes`` and ``accounting``.

``python -m utils.preprocess`` prints the data dictionary as Markdown (the tables of
data/README.md are exactly this text; a test checks that they agree).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from utils import config
from utils.validate import COLUMNS, QUARANTINE_COLUMNS, TIME_FORMAT

SOURCES = ("simulated", "rees46", "rees46_sample")
CATALOGUES = ("synthetic", "sephora")
INTERIM_TABLES = ("events", "products", "users", "reviews", "social", "calendar")
TRUTH_TABLES = ("session_truth", "user_truth")
DERIVED_TABLES = ("clean_events", "quarantine")  # written by 03 from events.parquet

# --------------------------------------------------------------------------------------------
# The data dictionary: one entry per table, (type, description) per column
# --------------------------------------------------------------------------------------------

_EVENT_COLUMNS = {
    "event_time": ("timestamp (UTC, seconds)", "When the event happened."),
    "event_type": ("category", "view, cart, remove_from_cart or purchase."),
    "product_id": ("int64", "The product's id (joins products.product_id)."),
    "category_id": ("int64", "The product's category id: a large integer, never missing."),
    "category_code": ("category, may be missing",
                      "Dotted category path such as skincare.face.serum; missing for most "
                      "events, as in REES46."),
    "brand": ("category, may be missing",
              "Brand name; missing for about 40% of events, as in REES46."),
    "price": ("float64", "The product's price at the event, in US dollars."),
    "user_id": ("int64", "The shopper's id, the same across sessions."),
    "user_session": ("category or str",
                     "Session id: a UUID in REES46 and in the simulator."),
}

DICTIONARY: dict[str, dict] = {
    "events": {
        "file": "interim/events.parquet",
        "about": "Every event, in the REES46 schema, as the simulator or the REES46 loader "
                 "gives it (01_data_collection; every source).",
        "columns": _EVENT_COLUMNS,
    },
    "products": {
        "file": "interim/products.parquet",
        "about": "One row per product. Simulated: the catalogue the shop sells. REES46: derived "
                 "from the events (only product_id, category_id, category_code, brand, price).",
        "columns": {
            "product_id": ("int64", "The product's id (Sephora: its id without the 'P')."),
            "product_name": ("str", "Product name (simulated only; real names with Sephora)."),
            "brand": ("str, may be missing",
                      "Brand (REES46: the product's most frequent brand in the events)."),
            "category_id": ("int64",
                            "Category id (REES46: the product's most frequent category_id)."),
            "category_code": ("str, may be missing",
                              "Dotted category path; the simulated catalogue always has one even "
                              "where the events hide it (REES46: most frequent non-missing code)."),
            "top": ("str", "Top-level category: skincare, makeup, fragrance, hair, bath_body or "
                           "tools (simulated only)."),
            "kind": ("str", "Product kind such as serum or shampoo; it sets the replenishment "
                            "cycle and the words of reviews (simulated only)."),
            "price": ("float64", "List price in US dollars (REES46: the median price of the "
                                 "product's events)."),
            "consumable": ("bool", "The product runs out and is bought again (simulated only)."),
            "cycle_days": ("float64, may be missing",
                           "Typical days until a consumable runs out; missing for durables "
                           "(simulated only)."),
            "popularity": ("float64", "How often the simulator shows the product, a relative "
                                      "weight (Sephora: loves_count + 1); a simulator input, not "
                                      "something a real shop records (simulated only)."),
            "quality": ("float64", "Standardised quality that drives ratings (Sephora: the "
                                   "standardised rating; simulated only)."),
            "brand_listed": ("bool", "The events show this product's brand; False means brand "
                                     "is missing in its events (simulated only)."),
            "code_listed": ("bool", "The events show its category_code (simulated only)."),
        },
    },
    "users": {
        "file": "interim/users.parquet",
        "about": "Registered shoppers' demographics (simulated only).",
        "columns": {
            "user_id": ("int64", "The shopper's id (joins events.user_id)."),
            "age": ("int16", "Age in years (16-75)."),
            "gender": ("category", "F, M or U (unknown)."),
            "region": ("category", "capital, north, south, east, west or central."),
        },
    },
    "reviews": {
        "file": "interim/reviews.parquet",
        "about": "Product reviews whose words depend on the category and the rating "
                 "(simulated only).",
        "columns": {
            "review_id": ("int64", "The review's id."),
            "product_id": ("int64", "The reviewed product (joins products.product_id)."),
            "user_id": ("int64", "The reviewer, a registered user (not necessarily a buyer)."),
            "submitted": ("timestamp (UTC, seconds)", "When the review was written."),
            "rating": ("int8", "Stars, 1-5."),
            "text": ("str", "The review text."),
        },
    },
    "social": {
        "file": "interim/social.parquet",
        "about": "Daily social-media mentions per category and per brand; they lead demand by "
                 "the simulator's social_lead_days (7 by default) (simulated only).",
        "columns": {
            "date": ("datetime (day)", "The day (a UTC day)."),
            "level": ("category", "category or brand: what ``name`` is."),
            "name": ("str", "A category_code or a brand."),
            "mentions": ("int32", "Mentions that day."),
        },
    },
    "calendar": {
        "file": "interim/calendar.parquet",
        "about": "One row per day of the window: traffic, promotions and seasonal events "
                 "(simulated only).",
        "columns": {
            "date": ("datetime (day)", "The day (a UTC day)."),
            "weekday": ("str", "Monday ... Sunday."),
            "traffic": ("float64", "Relative traffic (1 = an ordinary weekday)."),
            "conversion_shift": ("float64", "Shift of the purchase log-odds that day."),
            "discount": ("float64", "Promotion discount as a share of the price (0 = none)."),
            "promo_scope": ("str", "What the promotion covers: all, a top-level category, or "
                                   "empty."),
            "event": ("str", "black_friday, cyber_weekend, christmas_runup, valentines or empty."),
        },
    },
    "session_truth": {
        "file": "interim/truth/session_truth.parquet",
        "about": "Ground truth per session that real data never has; kept apart from the "
                 "events, for checking models only (simulated only).",
        "columns": {
            "user_session": ("str", "The session (joins events.user_session)."),
            "user_id": ("int64", "The shopper."),
            "session_start": ("timestamp (UTC, seconds)", "When the session started."),
            "target_category": ("category", "The category_code the shopper came for."),
            "replenishment": ("bool", "A visit to buy again a consumable that ran out."),
            "discount": ("float64", "Discount on the target category that day."),
            "intent": ("float64", "Latent purchase intent."),
            "true_purchase_prob": ("float64", "The probability of buying that the simulator "
                                              "drew the outcome from (the ceiling for a model)."),
            "purchased": ("bool", "The session checked out."),
        },
    },
    "user_truth": {
        "file": "interim/truth/user_truth.parquet",
        "about": "Each shopper's latent segment and tastes (simulated only).",
        "columns": {
            "user_id": ("int64", "The shopper."),
            "segment": ("category", "bargain hunter, loyal skincare, trend follower, window "
                                    "shopper or makeup enthusiast."),
            "activity": ("float64", "Organic sessions per 30 days."),
            "buy_bias": ("float64", "Shift of the purchase log-odds."),
            "price_sensitivity": ("float64", "How much prices above comfort_price put them off."),
            "brand_loyalty": ("float64", "Chance to pick the favourite brand (0-1)."),
            "favourite_brand": ("int64", "Position of the favourite brand in the sorted list of "
                                         "the catalogue's brands."),
            "promo_sensitivity": ("float64", "How much discounts raise the purchase log-odds."),
            "trend_following": ("float64", "Chance a session follows the current buzz."),
            "depth": ("float64", "Multiplier of the number of products viewed per session."),
            "replenish_prob": ("float64", "Chance to come back when a consumable runs out."),
            "affinity_skincare": ("float64", "Share of interest in skincare."),
            "affinity_makeup": ("float64", "Share of interest in makeup."),
            "affinity_fragrance": ("float64", "Share of interest in fragrance."),
            "affinity_hair": ("float64", "Share of interest in hair."),
            "affinity_bath_body": ("float64", "Share of interest in bath_body."),
            "affinity_tools": ("float64", "Share of interest in tools."),
            "comfort_price": ("float64", "The price in US dollars the shopper is comfortable "
                                         "with."),
        },
    },
    "clean_events": {
        "file": "interim/clean_events.parquet",
        "about": "The events after 03_preprocessing: the same nine columns and dtypes as "
                 "events.parquet, without invalid rows, exact duplicates, price errors and "
                 "bot-like sessions, and every row has a user_session.",
        "columns": _EVENT_COLUMNS | {
            "user_session": ("category or str",
                             "Session id: the data's own, or '<user_id>-<n>' (n = 0, 1, ... in "
                             "time order) where it was missing: a new session after 30 minutes "
                             "without an event."),
        },
    },
    "quarantine": {
        "file": "interim/quarantine.parquet",
        "about": "Every row 03_preprocessing set aside, with the reason (all values as text). "
                 "The REES46 conversion keeps its own file of this shape, "
                 "interim/rees46_events_quarantine.parquet.",
        "columns": {
            "source_file": ("str", "Where the row came from: the events file, or the rows "
                                   "03_preprocessing injected on purpose (a CSV path for the "
                                   "REES46 conversion)."),
            "line": ("int64", "0-based row of events.parquet (injected rows follow its last "
                              "row); in the REES46 conversion's file, the CSV line (1 = header)."),
            "reason": ("str", "Why the row was set aside."),
            **{c: ("str", f"The row's raw {c}.") for c in COLUMNS},
            "extra_fields": ("str, may be missing",
                             "Fields beyond the ninth (rows with too many fields only)."),
        },
    },
}


def dictionary_markdown(tables=None) -> str:
    """The data dictionary as Markdown, one section per table (all tables by default)."""
    parts = []
    for name in tables or DICTIONARY:
        entry = DICTIONARY[name]
        rows = [f"| `{col}` | {kind} | {text} |" for col, (kind, text) in entry["columns"].items()]
        parts.append("\n".join([f"### {name}: `data/{entry['file']}`", "", entry["about"], "",
                                "| column | type | description |", "|---|---|---|", *rows]))
    return "\n\n".join(parts) + "\n"


def undocumented_columns(tables: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Columns of the given tables that the dictionary does not describe (empty = all good)."""
    out = {}
    for name, frame in tables.items():
        known = DICTIONARY.get(name, {}).get("columns", {})
        missing = [c for c in frame.columns if c not in known]
        if missing:
            out[name] = missing
    return out


# --------------------------------------------------------------------------------------------
# Collection (01)
# --------------------------------------------------------------------------------------------

def sephora_catalogue(n_products: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The real Sephora catalogue (the extract that ships with the project) in the simulator's
    schema."""
    from utils import datasets, simulate

    info = datasets.load_sephora_products()
    return simulate.catalogue_from_sephora(info, n_products=n_products, seed=seed)


def products_from_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per product of a REES46 event log: its most frequent category_id,
    category_code and brand (ties: the smallest value), and its median price."""
    def most_frequent(column: str) -> pd.Series:
        values = events[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.astype("str")
        counts = (pd.DataFrame({"product_id": events["product_id"], column: values})
                  .groupby(["product_id", column]).size().rename("n").reset_index())
        best = counts.sort_values(["product_id", "n", column], ascending=[True, False, True],
                                  kind="stable").drop_duplicates("product_id")
        return best.set_index("product_id")[column]

    products = events.groupby("product_id")["price"].median().rename("price").to_frame()
    for column in ("category_id", "category_code", "brand"):
        products[column] = most_frequent(column)
    products = products.reset_index()
    products = products.astype({"category_id": "int64", "category_code": "str", "brand": "str"})
    return products[["product_id", "category_id", "category_code", "brand", "price"]]


def collect_rees46(sample: bool = False) -> tuple[pd.DataFrame, dict]:
    """Convert the REES46 CSVs (data/raw/rees46/, or the 100-row public sample) to Parquet and
    read the events back; returns (events, what the conversion did)."""
    from utils import datasets

    raw = config.data_dir("raw") / "rees46"
    scratch = None
    try:
        if sample:  # the same conversion path as the full data, on a copy in a scratch folder
            scratch = Path(tempfile.mkdtemp(prefix="rees46-sample-"))
            shutil.copy(datasets.fetch("rees46_sample"), scratch / "2019-Dec-sample.csv")
            folder = scratch
        else:
            folder = raw
            try:
                datasets.rees46_files(folder)
            except FileNotFoundError as exc:
                raise FileNotFoundError(
                    f"{exc} Until then, run with source = 'simulated' (the default) or "
                    "source = 'rees46_sample' (the public 100-event sample).") from exc
        report = datasets.convert_rees46(folder)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    events = datasets.load_rees46_events(report.out_dir)
    info = {
        "files": [Path(s).name for s in report.sources],
        "rows_read": report.rows_read, "rows_kept": report.rows_kept,
        "rows_quarantined": report.rows_quarantined,
        "duplicates_removed": report.duplicates_removed, "reasons": report.reasons,
        "converted_to": str(report.out_dir), "quarantine": str(report.quarantine_path),
    }
    return events, info


def collect(source: str = "simulated", *, n_users: int = 12000, n_days: int = 150,
            start: str = "2019-10-01", n_products: int | None = 600, seed: int = 0,
            catalogue: str = "synthetic") -> tuple[dict, dict, dict]:
    """The interim tables of one source: (tables, truth tables, parameters).

    ``source``: "simulated" (the embedded shop), "rees46" (the Kaggle CSVs in
    data/raw/rees46/) or "rees46_sample" (the public 100-event sample, same conversion path).
    The sizes and ``catalogue`` ("synthetic" or "sephora") apply to the simulator only.
    """
    from utils import simulate

    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if source != "simulated":
        events, info = collect_rees46(sample=source == "rees46_sample")
        return {"events": events, "products": products_from_events(events)}, {}, info
    if catalogue not in CATALOGUES:
        raise ValueError(f"unknown catalogue {catalogue!r}; expected one of "
                         f"{', '.join(CATALOGUES)}")
    products = sephora_catalogue(n_products, seed) if catalogue == "sephora" else None
    shop = simulate.simulate_shop(n_users=n_users, n_days=n_days, start=start, seed=seed,
                                  n_products=n_products or 600, catalogue=products)
    tables = {name: getattr(shop, name) for name in INTERIM_TABLES}
    truth = {name: getattr(shop, name) for name in TRUTH_TABLES}
    return tables, truth, dict(shop.params, catalogue=catalogue)


def interim_path(name: str) -> Path:
    """Where a table of the dictionary lives (data/interim/... under the work folder)."""
    if name not in DICTIONARY:
        raise KeyError(f"unknown table {name!r}; known: {', '.join(DICTIONARY)}")
    return config.data_dir("interim").parent / DICTIONARY[name]["file"]


def write_table(frame: pd.DataFrame, name: str) -> Path:
    """Write one table of the dictionary atomically (temporary name, then rename)."""
    path = interim_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_interim(tables: dict, truth: dict, source: str, params: dict) -> Path:
    """Write the tables to data/interim/ (truth tables to data/interim/truth/) and source.json.

    Every file is written under a temporary name and renamed. Tables of an earlier run that
    this source does not have, and 03's outputs derived from the earlier events, are removed,
    so that what is on disk always matches source.json. Returns the path of source.json.
    """
    from utils.metrics import to_jsonable, write_json_atomic

    unknown = set(tables) - set(INTERIM_TABLES) | set(truth) - set(TRUTH_TABLES)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; the interim layout has "
                         f"{INTERIM_TABLES} and truth/{TRUTH_TABLES}")
    for name in (*INTERIM_TABLES, *TRUTH_TABLES, *DERIVED_TABLES):
        frame = tables.get(name, truth.get(name))
        if frame is None:
            interim_path(name).unlink(missing_ok=True)
        else:
            write_table(frame, name)
    info = {"source": source, "tables": [t for t in INTERIM_TABLES if t in tables],
            "params": to_jsonable(params)}
    path = config.data_dir("interim") / "source.json"
    write_json_atomic(path, info)
    return path


def read_source_info() -> dict:
    path = config.data_dir("interim") / "source.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run notebooks/01_data_collection.ipynb "
                                "first (it writes the interim tables and this file).")
    return json.loads(path.read_text(encoding="utf-8"))


def load_interim(name: str) -> pd.DataFrame:
    """Read an interim table with the dtypes it was written with (timestamps back to seconds)."""
    path = interim_path(name)
    if not path.is_file():
        writer = "03_preprocessing" if name in DERIVED_TABLES else "01_data_collection"
        raise FileNotFoundError(f"{path} is missing: run notebooks/{writer}.ipynb first "
                                "(the source in data/interim/source.json may not have it).")
    frame = pd.read_parquet(path)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.DatetimeTZDtype):  # Parquet has no seconds unit
            frame[col] = frame[col].dt.as_unit("s")
    return frame


# --------------------------------------------------------------------------------------------
# Exploration (02)
# --------------------------------------------------------------------------------------------

STEPS = ("view", "cart", "purchase")


def session_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per session: user_id, start, end, events, duration_s and a count per event type."""
    kind = events["event_type"].astype("str")
    frame = pd.DataFrame({
        "user_session": events["user_session"].astype("str"),
        "user_id": events["user_id"], "event_time": events["event_time"],
        "view": kind.eq("view"), "cart": kind.eq("cart"),
        "remove_from_cart": kind.eq("remove_from_cart"), "purchase": kind.eq("purchase"),
    })
    sessions = frame.groupby("user_session", sort=False).agg(
        user_id=("user_id", "first"), start=("event_time", "min"), end=("event_time", "max"),
        events=("event_time", "size"), view=("view", "sum"), cart=("cart", "sum"),
        remove_from_cart=("remove_from_cart", "sum"), purchase=("purchase", "sum"))
    sessions["duration_s"] = (sessions["end"] - sessions["start"]).dt.total_seconds()
    return sessions.sort_values(["start", "user_id"], kind="stable")


def funnel(sessions: pd.DataFrame) -> pd.DataFrame:
    """Sessions and users reaching view, cart and purchase (at least one such event), with
    their shares of all sessions and all users."""
    rows = {}
    for step in STEPS:
        reached = sessions[sessions[step] > 0]
        rows[step] = {"sessions": len(reached), "users": reached["user_id"].nunique()}
    out = pd.DataFrame(rows).T
    out["share_of_sessions"] = out["sessions"] / max(len(sessions), 1)
    out["share_of_users"] = out["users"] / max(sessions["user_id"].nunique(), 1)
    return out


def conversion_by(sessions: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sessions and the share that buy, by the "hour" (UTC) or "weekday" the session starts."""
    if by == "hour":
        key = sessions["start"].dt.hour.rename("hour")
        index = range(24)
    elif by == "weekday":
        key = sessions["start"].dt.day_name().rename("weekday")
        index = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    else:
        raise ValueError(f"by={by!r}: expected 'hour' or 'weekday'")
    out = (sessions["purchase"] > 0).groupby(key).agg(["size", "sum"]).reindex(index)
    out = out.fillna(0).astype("int64").set_axis(["sessions", "buying_sessions"], axis=1)
    out["conversion"] = out["buying_sessions"] / out["sessions"].where(out["sessions"] > 0)
    return out


def daily_activity(events: pd.DataFrame) -> pd.DataFrame:
    """Events of each type, all events and sessions per UTC day."""
    day = events["event_time"].dt.tz_localize(None).dt.floor("D").rename("date")
    counts = pd.crosstab(day, events["event_type"].astype("str"))
    counts = counts.reindex(columns=["view", "cart", "remove_from_cart", "purchase"],
                            fill_value=0)
    counts["events"] = counts.sum(axis=1)
    counts["sessions"] = events["user_session"].astype("str").groupby(day).nunique()
    return counts


def retail_dates(first: pd.Timestamp, last: pd.Timestamp) -> dict[str, pd.Timestamp]:
    """Black Friday (last Friday of November), Christmas and Valentine's Day inside
    [first, last], labelled with their year."""
    first, last = pd.Timestamp(first).normalize(), pd.Timestamp(last).normalize()
    found = {}
    for year in range(first.year, last.year + 1):
        nov30 = pd.Timestamp(year, 11, 30)
        days = {"Black Friday": nov30 - pd.Timedelta(days=(nov30.dayofweek - 4) % 7),
                "Christmas": pd.Timestamp(year, 12, 25),
                "Valentine's Day": pd.Timestamp(year, 2, 14)}
        for label, day in days.items():
            if first <= day <= last:
                found[f"{label} {year}"] = day
    return dict(sorted(found.items(), key=lambda kv: kv[1]))


def top_level(category_code: pd.Series) -> pd.Series:
    """The first part of a dotted category_code; "(missing)" where there is none."""
    code = category_code.astype("str")
    return code.str.split(".").str[0].fillna("(missing)")


def mix(events: pd.DataFrame, labels: pd.Series, top: int = 10) -> pd.DataFrame:
    """Share of events and of purchases per label (the ``top`` most frequent by events, then
    "(other)"); missing labels count as "(missing)"."""
    labels = labels.astype("str").fillna("(missing)")
    order = labels.value_counts()
    keep = [x for x in order.index[:top]]
    if "(missing)" in order.index and "(missing)" not in keep:
        keep.append("(missing)")
    grouped = labels.where(labels.isin(keep), "(other)")
    buy = events["event_type"].astype("str").eq("purchase")
    out = pd.DataFrame({"events": grouped.value_counts(),
                        "purchases": grouped[buy].value_counts()}).fillna(0).astype("int64")
    out["share_of_events"] = out["events"] / max(len(events), 1)
    out["share_of_purchases"] = out["purchases"] / max(int(buy.sum()), 1)
    return out.reindex([k for k in [*keep, "(other)"] if k in out.index])


def repeat_purchase_intervals(events: pd.DataFrame,
                              products: pd.DataFrame | None = None) -> pd.DataFrame:
    """Days between consecutive purchases of the same product by the same user (one purchase
    per user, product and session), with the product's cycle_days when the catalogue has it."""
    buys = events[events["event_type"].astype("str").eq("purchase")]
    buys = (buys.assign(user_session=buys["user_session"].astype("str"))
            .drop_duplicates(["user_id", "product_id", "user_session"])
            .sort_values(["user_id", "product_id", "event_time"], kind="stable"))
    previous = buys.groupby(["user_id", "product_id"])["event_time"].shift()
    out = pd.DataFrame({
        "user_id": buys["user_id"], "product_id": buys["product_id"],
        "days": (buys["event_time"] - previous).dt.total_seconds() / 86400,
    }).dropna(subset=["days"]).reset_index(drop=True)
    if products is not None and "cycle_days" in products.columns:
        cycles = products.set_index("product_id")["cycle_days"]
        out["cycle_days"] = out["product_id"].map(cycles)
    return out


def cohort_retention(events: pd.DataFrame, weeks: int = 10) -> pd.DataFrame:
    """Share of each cohort (users by the week of their first event) active 0, 1, ...
    weeks later. Weeks count from the first day of the data; cells past its last full week
    are NaN.
    The ``users`` column holds the cohort's size."""
    first_day = events["event_time"].min().normalize()
    week = ((events["event_time"] - first_day).dt.days // 7).to_numpy()
    activity = pd.DataFrame({"user": events["user_id"].to_numpy(), "week": week})
    activity = activity.drop_duplicates()
    cohort = activity.groupby("user")["week"].transform("min")
    activity["since"] = activity["week"] - cohort
    activity["cohort"] = cohort
    size = activity[activity.since == 0].groupby("cohort").size()
    active = activity[activity.since < weeks].groupby(["cohort", "since"]).size().unstack()
    share = active.reindex(columns=range(weeks)).div(size, axis=0).fillna(0.0)
    # weeks after the end of the data are unknown, not zero
    days = (events["event_time"].max().normalize() - first_day).days + 1
    last_full_week = days // 7 - 1  # a partial last week would look like churn
    past_end = share.index.to_numpy()[:, None] + np.arange(weeks)[None, :] > last_full_week
    share = share.mask(past_end)
    share.index = [first_day.tz_localize(None) + pd.Timedelta(weeks=int(c)) for c in share.index]
    share.index.name = "cohort_week"
    share.insert(0, "users", size.to_numpy())
    return share


# --------------------------------------------------------------------------------------------
# Cleaning (03)
# --------------------------------------------------------------------------------------------

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
    user = pd.to_numeric(events["user_id"], errors="coerce")
    todo = missing & time.notna() & user.notna()
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


if __name__ == "__main__":
    print(dictionary_markdown(), end="")
