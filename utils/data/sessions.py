"""From a clean event log to the session purchase-prediction task, split by time.

Task: label = the session contains a purchase; input = the session's events strictly before its
first purchase. Sessions that open with a purchase have no input and are left out.

A live shop does not wait for the session to end: ``decision_points`` turns each session into
the moments it could be scored, after each of its first events, with only the events so far.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SPLITS = ("train", "validation", "test")


def purchase_task(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (sessions, inputs): one row per usable session, and its input events in order.

    ``sessions`` has user_session, user_id, start, label (1 = purchase), n_events (inputs kept);
    ``inputs`` holds the events before the first purchase with a ``session`` column pointing
    to the row of ``sessions``.
    """
    ev = events.reset_index(drop=True)
    ev = ev.assign(_order=np.arange(len(ev))).sort_values(["user_session", "event_time", "_order"])
    key = ev["user_session"].astype(str)
    is_purchase = ev["event_type"].astype(str).eq("purchase")
    first_buy = ev["event_time"].where(is_purchase).groupby(key).transform("min")
    before = first_buy.isna() | (ev["event_time"] < first_buy)
    label = is_purchase.groupby(key).transform("any")
    inputs = ev[before].assign(label=label[before].astype(np.int8))
    grouped = inputs.groupby(inputs["user_session"].astype(str), sort=False)
    sessions = pd.DataFrame({
        "user_id": grouped["user_id"].first(),
        "start": grouped["event_time"].min(),
        "end": grouped["event_time"].max(),
        "label": grouped["label"].first().astype(np.int8),
        "n_events": grouped.size(),
    }).rename_axis("user_session").reset_index()
    sessions = sessions.sort_values(["start", "user_session"], ignore_index=True)
    row = pd.Series(np.arange(len(sessions)), index=sessions["user_session"])
    inputs = inputs.assign(session=row.loc[inputs["user_session"].astype(str)].to_numpy())
    inputs = inputs.sort_values(["session", "event_time", "_order"]).drop(columns=["_order", "label"])
    return sessions, inputs.reset_index(drop=True)


def decision_points(sessions: pd.DataFrame, inputs: pd.DataFrame,
                    max_k: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The live task: one row per session and decision point k = 1 .. min(n_events, max_k), the
    session as a shop sees it after its first k events (all before any purchase), and the input
    events of each point.

    ``points`` has ``session`` (the row of ``sessions``), ``k``, the session's user_session,
    user_id, start and label (the session goes on to buy), ``end`` (the time of event k) and
    ``n_events`` (= k), plus any other column of ``sessions`` (its split, say). ``point_inputs``
    holds the first k input events of each point, its ``session`` column pointing to the row of
    ``points``, so the session encoders and summaries read points as they read sessions.
    """
    if max_k < 1:
        raise ValueError(f"max_k = {max_k}: a decision point needs at least one event")
    position = inputs.groupby("session").cumcount().to_numpy()
    session = inputs["session"].to_numpy()
    n_points = np.minimum(sessions["n_events"].to_numpy(), max_k)
    first_point = np.cumsum(n_points) - n_points  # row of each session's point k = 1
    # an event at position p belongs to the points k = p + 1 .. n_points of its session
    copies = np.maximum(n_points[session] - position, 0)
    source = np.repeat(np.arange(len(inputs)), copies)
    k = position[source] + 1 + np.arange(len(source)) - np.repeat(np.cumsum(copies) - copies, copies)
    point_inputs = inputs.iloc[source].assign(session=first_point[session[source]] + k - 1)
    point_inputs = point_inputs.sort_values("session", kind="stable").reset_index(drop=True)

    parent = np.repeat(np.arange(len(sessions)), n_points)
    points = sessions.iloc[parent].reset_index(drop=True)
    points.insert(0, "session", parent)
    points.insert(1, "k", np.arange(len(parent)) - first_point[parent] + 1)
    points["n_events"] = points["k"]
    points["end"] = point_inputs.groupby("session")["event_time"].max().to_numpy()
    return points, point_inputs


def time_split(sessions: pd.DataFrame, validation_days: int, test_days: int,
               days: tuple | None = None) -> pd.Series:
    """Assign each session to train / validation / test by the day it starts: the last
    ``test_days`` days are test, the ``validation_days`` before them validation. ``days`` =
    (first, last) day of the whole log, when ``sessions`` is only part of it (default: theirs)."""
    day = sessions["start"].dt.floor("D")
    first, last = days if days is not None else (day.min(), day.max())
    test_start = last - pd.Timedelta(days=test_days - 1)
    val_start = test_start - pd.Timedelta(days=validation_days)
    if val_start <= first:
        span = (last - first).days + 1
        raise ValueError(f"the data spans {span} days: too few for {validation_days} validation "
                         f"and {test_days} test days plus a training period; lower them")
    split = np.where(day >= test_start, "test", np.where(day >= val_start, "validation", "train"))
    return pd.Series(pd.Categorical(split, categories=SPLITS), index=sessions.index, name="split")


def user_history(sessions: pd.DataFrame, inputs: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """What was known about the user when each session started (its first input event): prior
    sessions and purchases, recency, browse length, basket value and category affinity.

    Everything is cut at that moment: a user's sessions can overlap, so a purchase or an event
    of an earlier session counts only if it happened before this session began.
    """
    order = sessions.sort_values(["user_id", "start"]).index
    s = sessions.loc[order]
    by_user = s.groupby("user_id", sort=False)
    prior_sessions = by_user.cumcount()
    prev_start = by_user["start"].shift()

    # orders (sessions with a purchase) and their spend, checked out before the session began
    buys = events[events["event_type"].astype(str).eq("purchase")]
    first_of_order = ~buys["user_session"].astype(str).duplicated()
    bought = _known_before(s, buys, {"orders": first_of_order.astype(float), "spend": buys["price"]})
    # input events of the user's sessions before this one began
    user_of_event = sessions["user_id"].to_numpy()[inputs["session"].to_numpy()]
    browsed = _known_before(s, inputs.assign(user_id=user_of_event),
                            {"events": pd.Series(1.0, index=inputs.index)})

    days = pd.Timedelta(days=1)
    prior_purchases = bought["orders"].astype(int)
    history = pd.DataFrame({
        "prior_sessions": prior_sessions,
        "prior_purchases": prior_purchases,
        "days_since_last_session": ((s["start"] - prev_start) / days).fillna(-1.0),
        "days_since_last_purchase": ((s["start"] - bought["last_time"]) / days).fillna(-1.0),
        "prior_mean_events": (browsed["events"] / prior_sessions.replace(0, np.nan)).fillna(0.0),
        "prior_mean_basket": (bought["spend"] / prior_purchases.replace(0, np.nan)).fillna(0.0),
    }, index=order).loc[sessions.index]
    history["category_affinity"] = _category_affinity(sessions, inputs)
    return history


def _known_before(s: pd.DataFrame, ev: pd.DataFrame, values: dict) -> pd.DataFrame:
    """For each session of ``s`` (user_id, start): the user's running totals of ``values``
    (per-event Series aligned with ``ev``) over events strictly before the session's start, and
    ``last_time``, the time of the last such event (NaT when none)."""
    ev = ev[["user_id", "event_time"]].assign(**values).sort_values("event_time", kind="stable")
    totals = ev.groupby("user_id", sort=False)[list(values)].cumsum()
    known = pd.concat([ev[["user_id", "event_time"]], totals], axis=1).rename(
        columns={"event_time": "last_time"})
    left = pd.DataFrame({"user_id": s["user_id"].to_numpy(), "start": s["start"].to_numpy(),
                         "row": np.arange(len(s))}).sort_values("start", kind="stable")
    merged = pd.merge_asof(left, known, left_on="start", right_on="last_time", by="user_id",
                           allow_exact_matches=False).sort_values("row")
    merged[list(values)] = merged[list(values)].fillna(0.0)
    return merged.set_index(s.index)[[*values, "last_time"]]


def _category_affinity(sessions: pd.DataFrame, inputs: pd.DataFrame) -> np.ndarray:
    """Share of the user's earlier input events in the category of this session's first event."""
    user = sessions["user_id"].to_numpy()[inputs["session"].to_numpy()]
    ev = inputs[["session", "event_time", "category_id"]].assign(user_id=user)
    ev = ev.sort_values(["event_time", "session"], kind="stable")
    first_in_session = ~ev["session"].duplicated()
    same_category = ev.groupby(["user_id", "category_id"]).cumcount()
    all_prior = ev.groupby("user_id").cumcount()
    # events of the same session before its first event: none, so counts are about earlier sessions
    firsts = ev[first_in_session]
    share = same_category[first_in_session] / all_prior[first_in_session].replace(0, np.nan)
    result = np.zeros(len(sessions))
    result[firsts["session"].to_numpy()] = share.fillna(0.0).to_numpy()
    return result
