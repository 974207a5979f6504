"""Exploration of an event log: the funnel, conversion, activity, mix, repeat purchases, cohorts.

``session_table``, ``funnel``, ``conversion_by``, ``daily_activity``, ``retail_dates``, ``mix``,
``repeat_purchase_intervals``, ``cohort_retention``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.data.schema import EVENT_TYPES

STEPS = ("view", "cart", "purchase")


def session_table(events: pd.DataFrame) -> pd.DataFrame:
    """One row per session: user_id, start, end, events, duration_s and a count per event type."""
    kind = events["event_type"].astype("str")
    frame = pd.DataFrame({
        "user_session": events["user_session"].astype("str"),
        "user_id": events["user_id"], "event_time": events["event_time"],
        **{name: kind.eq(name) for name in EVENT_TYPES},
    })
    sessions = frame.groupby("user_session", sort=False).agg(
        user_id=("user_id", "first"), start=("event_time", "min"), end=("event_time", "max"),
        events=("event_time", "size"), **{name: (name, "sum") for name in EVENT_TYPES})
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
    counts = counts.reindex(columns=list(EVENT_TYPES), fill_value=0)
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


