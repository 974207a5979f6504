"""The world fixed before any session: shoppers (segments, demographics, latent tastes) and the
calendar (traffic, promotions, retail events, seasonal demand)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.data.simulate.catalogue import TOPS
from utils.data.simulate.engine import ENGINE

# share of users; Dirichlet alpha over TOPS; session rate; purchase logit shift; price
# sensitivity; brand loyalty Beta(a, b); promotion sensitivity; chance a session follows the
# trend; views-per-session multiplier; mean age.
SEGMENTS = {
    "bargain hunter": dict(share=0.25, alpha=(3, 3, 1, 2, 2, 1.5), activity=1.0, buy=-0.2,
                           price=2.0, loyal=(1, 4), promo=3.0, trend=0.1, depth=1.0, age=31),
    "loyal skincare": dict(share=0.15, alpha=(12, 2, 1, 2, 2, 0.5), activity=1.2, buy=0.7,
                           price=0.6, loyal=(6, 2), promo=0.8, trend=0.05, depth=0.9, age=38),
    "trend follower": dict(share=0.20, alpha=(3, 4, 2, 2, 1, 1), activity=1.3, buy=0.1,
                           price=0.9, loyal=(1, 5), promo=1.2, trend=0.7, depth=1.1, age=24),
    "window shopper": dict(share=0.25, alpha=(2, 2, 2, 2, 2, 2), activity=1.1, buy=-1.3,
                           price=1.2, loyal=(1, 3), promo=1.0, trend=0.2, depth=1.5, age=29),
    "makeup enthusiast": dict(share=0.15, alpha=(2, 12, 1, 1, 1, 2), activity=1.4, buy=0.3,
                              price=1.0, loyal=(3, 3), promo=1.2, trend=0.3, depth=1.2, age=27),
}

REGIONS = ["capital", "north", "south", "east", "west", "central"]

# UTC hour-of-day and weekday (Mon..Sun) traffic weights: evening peak, quieter weekend.
_HOUR_WEIGHTS = np.array([1.5, 1, 0.7, 0.5, 0.5, 0.7, 1.2, 2, 3, 3.5, 3.8, 4, 4.2, 4, 3.8, 3.8,
                          4, 4.5, 5.5, 6.5, 7, 6.5, 4.5, 2.5])
_WEEKDAY_WEIGHTS = np.array([1.05, 1.05, 1.0, 1.0, 0.92, 0.85, 1.0])


def _calendar(start: pd.Timestamp, n_days: int, tops: list[str], rng) -> tuple:
    """Daily traffic, conversion shift, promotions and per-top seasonal demand multipliers."""
    dates = pd.date_range(start, periods=n_days, freq="D")
    traffic = _WEEKDAY_WEIGHTS[dates.day_of_week].copy()
    shift = np.zeros(n_days)
    top_season = np.ones((n_days, len(tops)))
    event = np.full(n_days, "", dtype=object)
    top_ix = {t: i for i, t in enumerate(tops)}

    def boost_tops(mask, factors):  # seasonal demand of some top categories
        for t, f in factors.items():
            if t in top_ix:
                top_season[mask, top_ix[t]] *= f

    # promotions: random promo days, each discounting one top category or the whole store
    discount = np.where(rng.random(n_days) < 0.08, rng.choice([0.1, 0.15, 0.2, 0.3], n_days), 0)
    scope = np.where(rng.random(n_days) < 0.4, "all", rng.choice(tops, n_days)).astype(object)

    month, day = dates.month.to_numpy(), dates.day.to_numpy()
    # Black Friday: last Friday of November; the weekend and Cyber Monday after it
    nov30 = pd.to_datetime([f"{y}-11-30" for y in dates.year])
    black_friday = nov30 - pd.to_timedelta((nov30.day_of_week - 4) % 7, unit="D")
    since_bf = (dates - black_friday).days.to_numpy()
    bf = since_bf == 0
    cyber = (since_bf >= 1) & (since_bf <= 3)
    traffic[bf] *= 2.5
    traffic[cyber] *= 1.6
    shift[bf] += 0.8
    shift[cyber] += 0.4
    discount = np.where(bf | cyber, np.where(bf, 0.3, 0.2), discount)
    scope = np.where(bf | cyber, "all", scope)
    event[bf], event[cyber] = "black_friday", "cyber_weekend"
    # Christmas run-up: traffic and gifts (fragrance, bath & body) rise through December
    xmas = (month == 12) & (day <= 22)
    traffic[xmas] *= 1.1 + 0.5 * (day[xmas] - 1) / 21
    shift[xmas] += 0.3
    boost_tops(xmas, {"fragrance": 1.6, "bath_body": 1.3})
    event[xmas & (event == "")] = "christmas_runup"
    quiet = ((month == 12) & (day >= 24) & (day <= 26)) | ((month == 1) & (day == 1))
    traffic[quiet] *= 0.65
    event[quiet] = "holiday"
    # Valentine's Day: fragrance and makeup rise through the fortnight before 14 February
    vday = (month == 2) & (day <= 14)
    traffic[vday] *= 1.1
    ramp = 1 + day[vday] / 14
    boost_tops(vday, {"fragrance": 1 + 0.8 * ramp, "makeup": 1 + 0.3 * ramp})
    event[vday] = "valentines"
    scope = np.where(discount > 0, scope, "")
    cal = pd.DataFrame({
        "date": dates, "weekday": dates.day_name(), "traffic": traffic, "conversion_shift": shift,
        "discount": discount.astype(float), "promo_scope": scope.astype(str), "event": event,
    })
    cal["event"] = cal["event"].astype("str")
    # discount per (day, top) for the session engine
    disc_top = np.where((scope[:, None] == "all") | (scope[:, None] == np.array(tops)[None, :]),
                        discount[:, None], 0.0)
    return cal, top_season, disc_top


def _store_wide_promotion(calendar: pd.DataFrame, disc_top: np.ndarray, first_day,
                          discount: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Every day from ``first_day`` on becomes a store-wide promotion at ``discount``, replacing
    the calendar's own promotions on those days (a changed regime; traffic stays as drawn)."""
    if not 0 < discount < 1:
        raise ValueError(f"promotion_discount = {discount}: a promotion takes a share between 0 and 1 "
                         "off every price (0.2 is 20% off)")
    day = pd.Timestamp(first_day)
    day = (day.tz_convert("UTC").tz_localize(None) if day.tzinfo else day).floor("D")
    dates = calendar["date"]
    if not dates.min() <= day <= dates.max():
        raise ValueError(f"promotion_from = {first_day!r} is outside the window {dates.min():%Y-%m-%d} to "
                         f"{dates.max():%Y-%m-%d}; choose a day inside it")
    on = (dates >= day).to_numpy()
    calendar = calendar.assign(discount=np.where(on, discount, calendar["discount"]),
                               promo_scope=np.where(on, "all", calendar["promo_scope"]))
    calendar["promo_scope"] = calendar["promo_scope"].astype("str")
    return calendar, np.where(on[:, None], discount, disc_top)


def _users(n_users: int, tops: list[str], present: np.ndarray, n_brands: int,
           brand_weight: np.ndarray, rng) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observable demographics and the latent tastes behind them (the user truth)."""
    seg_names = list(SEGMENTS)
    segs = pd.DataFrame(SEGMENTS.values(), index=seg_names)
    seg = rng.choice(len(seg_names), n_users, p=segs.share / segs.share.sum())
    s = segs.iloc[seg]
    alpha = np.array(s.alpha.tolist())
    # TOPS order -> the catalogue's tops order; absent tops get no affinity
    alpha = alpha[:, [TOPS.index(t) if t in TOPS else 0 for t in tops]]
    aff = rng.gamma(alpha) * present[None, :]
    aff /= aff.sum(axis=1, keepdims=True)
    loyal = np.array(s.loyal.tolist())
    age = np.clip(np.rint(rng.normal(s.age, 8)), 16, 75).astype(np.int16)
    keen, c, sd = rng.standard_normal(n_users), ENGINE["keen_buy"], ENGINE["activity_sd"]
    users = pd.DataFrame({
        "user_id": 400_000_000 + np.cumsum(rng.integers(1, 60, n_users)),
        "age": age,
        "gender": pd.Categorical.from_codes(rng.choice(3, n_users, p=[0.86, 0.11, 0.03]),
                                            ["F", "M", "U"]),
        "region": pd.Categorical.from_codes(rng.choice(len(REGIONS), n_users,
                                                       p=[.3, .15, .15, .1, .1, .2]), REGIONS),
    })
    truth = pd.DataFrame({
        "user_id": users.user_id,
        "segment": pd.Categorical.from_codes(seg, seg_names),
        # sessions per 30 days (before replenishment); heavy tailed, mean = segment's rate
        "activity": s.activity.to_numpy() * np.exp(sd * keen - sd**2 / 2),
        # frequent visitors are the keener buyers (correlation ENGINE["keen_buy"])
        "buy_bias": (s.buy.to_numpy() + 0.01 * (age - 30) + ENGINE["user_buy_sd"]
                     * (c * keen + np.sqrt(1 - c**2) * rng.standard_normal(n_users))),
        "price_sensitivity": s.price.to_numpy() * rng.lognormal(0, 0.3, n_users),
        "brand_loyalty": rng.beta(loyal[:, 0], loyal[:, 1]),
        "favourite_brand": rng.choice(n_brands, n_users, p=brand_weight / brand_weight.sum()),
        "promo_sensitivity": s.promo.to_numpy() * rng.lognormal(0, 0.3, n_users),
        "trend_following": s.trend.to_numpy(),
        "depth": s.depth.to_numpy() * rng.lognormal(0, 0.3, n_users),
    })
    truth["replenish_prob"] = np.clip(0.5 + 0.45 * truth.brand_loyalty, 0, 0.95)
    for i, t in enumerate(tops):
        truth[f"affinity_{t}"] = aff[:, i]
    return users, truth
