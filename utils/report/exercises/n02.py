"""Checks of 02_exploratory_analysis: carts that turn into purchases, the hour purchases happen,
and repeat purchases of products with a short replenishment cycle."""

from __future__ import annotations

from utils.report.exercises import close


def carted_and_bought(answer, events):
    """The share of carted items (each product counted once per session) that are bought in the
    same session."""
    kind = events["event_type"].astype("str")
    pairs = ["user_session", "product_id"]
    carts = events.loc[kind.eq("cart"), pairs].drop_duplicates()
    buys = events.loc[kind.eq("purchase"), pairs].drop_duplicates()
    expected = len(carts.merge(buys, on=pairs)) / max(len(carts), 1)
    passed, message = close(answer, expected, 0.005, "the share of carted items bought in the same session")
    if passed:
        message += (f" Of {len(carts):,} carted items, {1 - expected:.0%} are not bought in that visit: "
                    "the cart doubles as a wish list.")
    else:
        message += " Count (session, product) pairs once each, and divide by the carted pairs."
    return passed, message


def busiest_purchase_hour(answer, events, sessions):
    """The UTC hour with the most purchase events (any hour tied for the most is right)."""
    kind = events["event_type"].astype("str")
    per_hour = events.loc[kind.eq("purchase"), "event_time"].dt.hour.value_counts()
    best = sorted(int(h) for h in per_hour.index[per_hour == per_hour.max()])
    start_hour = int(sessions["start"].dt.hour.value_counts().idxmax())
    hour = int(answer)
    if hour in best:
        timing = ("the same hour as sessions start most often" if start_hour in best else
                  f"while sessions start most often at {start_hour}:00 UTC: a reminder aimed at the moment "
                  "of buying follows the purchases")
        return True, f"purchases peak at {hour}:00 UTC ({int(per_hour.max()):,} purchases), {timing}."
    count = int(per_hour.get(hour, 0))
    return False, (f"{hour}:00 UTC has {count:,} purchases, fewer than the busiest hour; use the hour of "
                   "each purchase event, not of its session's start.")


def short_cycle_near(answer, intervals, max_cycle_days, near):
    """Among repeat purchases of products with a cycle under ``max_cycle_days`` days, the share whose
    interval / cycle lies within ``near`` (0 when there is none)."""
    if "cycle_days" not in intervals:
        return False, "this source has no replenishment cycles (cycle_days): nothing to compute."
    with_cycle = intervals.dropna(subset=["cycle_days"])
    short = with_cycle[with_cycle["cycle_days"] < max_cycle_days]
    ratio = short["days"] / short["cycle_days"]
    expected = float(ratio.between(*near).mean()) if len(short) else 0.0
    passed, message = close(answer, expected, 0.005,
                            f"the share of short-cycle repeats near their cycle ({len(short):,} repeats)")
    if passed and len(with_cycle):
        overall = float((with_cycle["days"] / with_cycle["cycle_days"]).between(*near).mean())
        message += (f" For every product with a cycle it is {overall:.1%}: "
                    + ("the bump sharpens." if expected > overall else "the bump does not sharpen here."))
    return passed, message


CHECKS = {"02.1": carted_and_bought, "02.2": busiest_purchase_hour, "02.3": short_cycle_near}
