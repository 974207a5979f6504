"""What the simulator is calibrated to: the published marginals of the REES46 cosmetics data, their
plausible ranges, and the same quantities computed on any event log."""

from __future__ import annotations

import pandas as pd

from utils.data.schema import EVENT_TYPES

# Targets from the public description of the REES46 cosmetics data (see
# ../shared/data/SOURCES.md; event shares are for 2019-Dec). events_per_session_median is NOT
# published: it is a rough estimate (most sessions are one or two product views).
PUBLISHED_MARGINALS = {
    "share_view": 0.48,
    "share_cart": 0.28,
    "share_remove_from_cart": 0.18,
    "share_purchase": 0.06,
    "buyers_among_viewers": 0.07,
    "median_price": 5.0,
    "brand_missing_share": 0.40,
    "category_code_missing_share": 0.90,
    "events_per_session_median": 2.0,
}
# Plausible range of each quantity in the real data (the tests hold the simulator to these).
MARGINAL_RANGES = {
    "share_view": (0.40, 0.56),
    "share_cart": (0.20, 0.36),
    "share_remove_from_cart": (0.11, 0.25),
    "share_purchase": (0.03, 0.09),
    "buyers_among_viewers": (0.04, 0.11),
    "median_price": (3.0, 8.0),
    "brand_missing_share": (0.30, 0.50),
    "category_code_missing_share": (0.80, 0.98),
    "events_per_session_median": (1.0, 4.0),
}


def marginals(events: pd.DataFrame) -> dict:
    """The calibration quantities of PUBLISHED_MARGINALS, computed on an event log.

    Works on simulated and on real REES46 events (event_time as datetimes or as its CSV text).
    """
    kind = events["event_type"].astype(str)
    shares = kind.value_counts(normalize=True)
    # REES46 comes in monthly files and its buyer share is a monthly figure: average the months
    when = pd.to_datetime(events["event_time"], utc=True)
    month = when.dt.tz_localize(None).dt.to_period("M")
    users = pd.DataFrame({"month": month, "user": events["user_id"],
                          "view": kind == "view", "buy": kind == "purchase"})
    per_user = users.groupby(["month", "user"], sort=False).agg(view=("view", "any"),
                                                                 buy=("buy", "any"))
    viewers = per_user[per_user.view]
    monthly = viewers.groupby(level="month").buy.mean()
    per_session = events.groupby("user_session", observed=True, sort=False).size()
    return {
        **{f"share_{kind}": float(shares.get(kind, 0.0)) for kind in EVENT_TYPES},
        "buyers_among_viewers": float(monthly.mean()) if len(monthly) else 0.0,
        "median_price": float(events["price"].median()),
        "brand_missing_share": float(events["brand"].isna().mean()),
        "category_code_missing_share": float(events["category_code"].isna().mean()),
        "events_per_session_median": float(per_session.median()),
    }


def compare_marginals(events: pd.DataFrame) -> pd.DataFrame:
    """Simulated vs published marginals side by side, with the plausible range of each."""
    sim = marginals(events)
    return pd.DataFrame({
        "simulated": sim,
        "published": PUBLISHED_MARGINALS,
        "low": {k: v[0] for k, v in MARGINAL_RANGES.items()},
        "high": {k: v[1] for k, v in MARGINAL_RANGES.items()},
    }).assign(within=lambda d: d.simulated.between(d.low, d.high))
