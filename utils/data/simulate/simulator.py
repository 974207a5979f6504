"""``simulate_shop``: the catalogue, the world and the buzz, then organic and replenishment
sessions, and the side tables, all from one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.data.simulate.catalogue import TOPS, _finish_catalogue, _listed_mask, _synthetic_catalogue
from utils.data.simulate.engine import (
    _assemble,
    _replenishment,
    _run_sessions,
    _start_seconds,
    _World,
)
from utils.data.simulate.reviews import _reviews, _social
from utils.data.simulate.sampling import _ar1, _GroupSampler
from utils.data.simulate.shop import Shop
from utils.data.simulate.world import _HOUR_WEIGHTS, _calendar, _store_wide_promotion, _users


def simulate_shop(n_users: int = 5000, n_days: int = 90, start: str = "2019-10-01",
                  seed: int = 0, n_products: int = 600, catalogue: pd.DataFrame | None = None,
                  reviews_per_product: float = 5.0, sessions_per_month: float = 0.6,
                  brand_missing_share: float = 0.40, code_missing_share: float = 0.90,
                  social_lead_days: int = 7, promotion_from: str | None = None,
                  promotion_discount: float = 0.0) -> Shop:
    """Simulate a beauty shop; the same arguments always give identical tables.

    n_users: registered users (those with no session in the window have no events).
    n_days, start: the window (UTC days from ``start``).
    n_products: size of the synthetic catalogue (ignored when ``catalogue`` is given, e.g.
        ``catalogue_from_sephora(pd.read_csv(".../product_info.csv"))``). A shop's own products
        table (``Shop.products``, with its brand_listed and code_listed flags) keeps those flags,
        so it and the shop's other arguments make the same shop again.
    reviews_per_product: mean number of reviews per product (popular products get more).
    sessions_per_month: mean organic sessions per user per 30 days (before replenishment).
    brand_missing_share, code_missing_share: share of events whose brand / category_code the
        shop leaves empty (REES46 leaves most category codes empty).
    social_lead_days: how many days social-media mentions lead category and brand demand.
    promotion_from, promotion_discount: a changed regime. From the UTC day ``promotion_from``
        on, every day is a store-wide promotion taking ``promotion_discount`` (a share, 0-1) off
        every price, in place of the calendar's own promotions; as on any promotion day,
        shoppers who care about promotions are keener to buy. None (the default) keeps the
        calendar as drawn.
    """
    params = {k: v for k, v in locals().items() if k != "catalogue"}
    params["catalogue"] = "synthetic" if catalogue is None else f"given ({len(catalogue)} rows)"
    r_cat, r_users, r_cal, r_buzz, r_sess, r_rev, r_ids = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7))
    start_ts = pd.Timestamp(start)
    lead = int(social_lead_days)

    products = (_synthetic_catalogue(n_products, r_cat) if catalogue is None
                else _finish_catalogue(catalogue))
    flags = ["brand_listed", "code_listed"]
    given_flags = catalogue is not None and set(flags) <= set(catalogue.columns)
    tops = list(TOPS) + sorted(set(products.top) - set(TOPS))
    leaves = np.array(sorted(products.category_code.unique()))
    brands = np.array(sorted(products.brand.unique()))
    p_top = pd.Categorical(products.top, categories=tops).codes.astype(np.int64)
    p_leaf = pd.Categorical(products.category_code, categories=leaves).codes.astype(np.int64)
    p_brand = pd.Categorical(products.brand, categories=brands).codes.astype(np.int64)
    pop = products.popularity.to_numpy(float) * np.exp(0.3 * products.quality.to_numpy(float))
    leaf_pop = np.bincount(p_leaf, pop, len(leaves))
    if given_flags:  # a shop's own products table: the same products show brand and code again
        products[flags] = catalogue.set_index("product_id")[flags].reindex(products.product_id).to_numpy(bool)
    else:
        products["brand_listed"] = _listed_mask(pop, brand_missing_share, r_cat)
        products["code_listed"] = _listed_mask(leaf_pop, code_missing_share, r_cat)[p_leaf]
    leaf_top = np.zeros(len(leaves), np.int64)
    leaf_top[p_leaf] = p_top
    present = np.bincount(p_top, minlength=len(tops)) > 0

    calendar, top_season, disc_top = _calendar(start_ts, n_days, tops, r_cal)
    if promotion_from is not None:
        calendar, disc_top = _store_wide_promotion(calendar, disc_top, promotion_from, promotion_discount)
    users, user_truth = _users(n_users, tops, present, len(brands),
                               np.bincount(p_brand, pop, len(brands)), r_users)
    # users' comfortable price: the catalogue's median, lower for the price sensitive
    ref = (np.log(products.price.median()) + r_users.normal(0, 0.3, n_users)
           - 0.4 * (user_truth.price_sensitivity.to_numpy() - 1))

    # latent buzz: demand on day d follows buzz[d]; mentions on day d show buzz[d + lead]
    leaf_buzz = _ar1(r_buzz, len(leaves), n_days + lead, sd=0.5)
    brand_buzz = _ar1(r_buzz, len(brands), n_days + lead, sd=0.35)
    leaf_w = leaf_pop[:, None] * np.exp(leaf_buzz[:, :n_days])  # (leaf, day)
    top_day = np.ones((n_days, len(tops)))
    for t in range(len(tops)):
        in_top = leaf_top == t
        if in_top.any():
            top_day[:, t] = leaf_w[in_top].sum(0) / leaf_pop[in_top].sum()
    top_day *= top_season

    # group samplers: leaves by (top, day) and products by (leaf, day), weights (day, item)
    def leaf_sampler(strength: float) -> _GroupSampler:
        blocks = []
        for t in range(len(tops)):
            in_top = np.flatnonzero(leaf_top == t)
            blocks.append((in_top, leaf_pop[in_top][None, :]
                           * np.exp(strength * leaf_buzz[in_top, :n_days].T)))
        return _GroupSampler(blocks)

    prod_blocks = []
    for leaf in range(len(leaves)):
        in_leaf = np.flatnonzero(p_leaf == leaf)
        prod_blocks.append((in_leaf, pop[in_leaf][None, :]
                            * np.exp(brand_buzz[p_brand[in_leaf], :n_days].T)))

    u = {c: user_truth[c].to_numpy() for c in
         ("buy_bias", "price_sensitivity", "brand_loyalty", "favourite_brand",
          "promo_sensitivity", "trend_following", "depth", "replenish_prob")}
    u["ref_log_price"] = ref
    user_truth["favourite_brand"] = brands[u["favourite_brand"]]
    user_truth["favourite_brand"] = user_truth["favourite_brand"].astype("str")
    user_truth["comfort_price"] = np.round(np.exp(ref), 2)
    world = _World(
        n_days=n_days, product_top=p_top, product_leaf=p_leaf, product_brand=p_brand,
        price=products.price.to_numpy(float), cycle=products.cycle_days.fillna(0).to_numpy(),
        affinity=user_truth[[f"affinity_{t}" for t in tops]].to_numpy(), top_day=top_day,
        disc_top=disc_top, conv_shift=calendar.conversion_shift.to_numpy(),
        day_p=(calendar.traffic / calendar.traffic.sum()).to_numpy(),
        hour_p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum(),
        leaf_plain=leaf_sampler(1.0), leaf_trendy=leaf_sampler(2.5),
        products=_GroupSampler(prod_blocks), u=u,
    )

    # organic sessions, then generations of replenishment sessions
    n_sess = r_sess.poisson(user_truth.activity.to_numpy() * sessions_per_month * n_days / 30)
    su = np.repeat(np.arange(n_users), n_sess)
    sd = r_sess.choice(n_days, len(su), p=world.day_p)
    batch = (su, sd, _start_seconds(world, r_sess, sd), np.full(len(su), -1))
    runs, offset = [], 0
    while len(batch[0]):
        out = _run_sessions(world, r_sess, batch[0], batch[1], batch[2], batch[3])
        out["offset"] = offset
        runs.append(out)
        offset += len(batch[0])
        user, day, t0, prod = _replenishment(world, r_sess, batch[0], out["purchases"])
        batch = (user, day, t0, prod)

    events, session_truth = _assemble(runs, products, users, leaves, brands, start_ts, r_ids)
    social = _social(leaf_buzz, brand_buzz, leaf_pop, np.bincount(p_brand, pop, len(brands)),
                     leaves, brands, start_ts, n_days, lead, r_buzz)
    reviews = _reviews(products, users, reviews_per_product, start_ts, n_days, r_rev)
    return Shop(events=events, products=products, users=users, reviews=reviews, social=social,
                session_truth=session_truth, user_truth=user_truth, calendar=calendar,
                params=params)
