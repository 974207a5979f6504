"""The session engine: sessions from intent to views, carts, removes and checkouts, the true
purchase probability behind each, replenishment visits, and the assembly of the event log."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from utils.data.schema import EVENT_TYPES
from utils.data.simulate.sampling import (
    _GroupSampler,
    _row_choice,
    _segment_first,
    _sigmoid,
    _uuids,
)

# Coefficients of the session engine (_run_sessions), tuned so a default shop lands near
# PUBLISHED_MARGINALS with a ceiling ROC-AUC of the true purchase probability around 0.85.
# intent = context + intent_sd x N(0, 1), where context = the user's buy_bias + season
# + promo x promo_sensitivity x discount + replenish (a replenishment visit)
# + price_fit x (minus how far the viewed prices exceed the user's comfort price).
ENGINE = dict(
    activity_sd=1.4,  # log-sd of users' session rates (a few heavy users, many one-offs)
    user_buy_sd=1.0, keen_buy=0.35,  # spread of users' buy_bias; its correlation with activity
    intent_sd=1.1, promo=4.0, replenish=3.0, price_fit=0.6,
    views=0.85, views_intent=0.45, stray=0.25,  # extra views ~ geometric(views e^(vi x intent))
    dwell=20.0, dwell_intent=0.35, dwell_sd=0.8,  # seconds between views (lognormal)
    cart=-1.65, cart_intent=1.0, cart_price=0.5,  # logit of carting a viewed product
    direct=0.25, direct_intent=0.6,  # carts straight from a listing page (Poisson)
    dup=0.05,  # chance of a second cart event for the same item (quantity + 1)
    remove=0.3, remove_intent=1.1,  # logit of removing a cart item
    dither=0.25,  # chance a kept item is taken out and put back again
    cleanup=0.5,  # chance an item left in the cart is removed at the user's next session
    carry=1.0,  # chance an item still in the cart is bought at the user's next checkout...
    cart_days=14,  # ... if that comes within this many days
    # purchase logit = buy + buy_context x context + buy_kept x log1p(items kept in the cart)
    # - buy_removed x removes + buy_dwell x (mean log dwell - log dwell)
    # (an empty cart gives a logit of -9: nothing to check out)
    buy=-3.2, buy_context=0.35, buy_kept=0.4, buy_removed=0.2, buy_dwell=0.3,
    buy_item=1.0,  # chance each kept item is in the order
)


@dataclass
class _World:
    """Arrays the session engine needs, indexed by product / user / day / top position."""

    n_days: int
    product_top: np.ndarray
    product_leaf: np.ndarray
    product_brand: np.ndarray
    price: np.ndarray
    cycle: np.ndarray
    affinity: np.ndarray  # (n_users, n_tops)
    top_day: np.ndarray  # (n_days, n_tops) seasonal x buzz demand multiplier
    disc_top: np.ndarray  # (n_days, n_tops)
    conv_shift: np.ndarray  # (n_days,)
    day_p: np.ndarray  # (n_days,) probability of a session falling on each day
    hour_p: np.ndarray
    leaf_plain: _GroupSampler  # group = top * n_days + day
    leaf_trendy: _GroupSampler
    products: _GroupSampler  # group = leaf * n_days + day
    u: dict  # user latent arrays (numpy), from user_truth


def _start_seconds(w: _World, rng, day: np.ndarray) -> np.ndarray:
    hour = rng.choice(24, len(day), p=w.hour_p)
    return day.astype(np.int64) * 86400 + hour * 3600 + rng.integers(0, 3600, len(day))


def _choose_products(w: _World, rng, leaf, day, user, k: int = 4) -> np.ndarray:
    """K candidates by popularity (x brand buzz); the user keeps the best for her taste."""
    group = np.repeat(leaf * w.n_days + day, k)
    cand = w.products.draw(rng, group).reshape(-1, k)
    logp = np.log(w.price[cand])
    over = np.maximum(0.0, logp - w.u["ref_log_price"][user][:, None])
    util = (-w.u["price_sensitivity"][user][:, None] * over
            + 2.5 * w.u["brand_loyalty"][user][:, None]
            * (w.product_brand[cand] == w.u["favourite_brand"][user][:, None])
            + rng.gumbel(size=cand.shape))
    return cand[np.arange(len(cand)), util.argmax(axis=1)]


def _run_sessions(w: _World, rng, su, sd, t0, rep) -> dict:
    """Simulate sessions (user su, day sd, start second t0, replenished product rep or -1).

    Returns the events (session index, second, type code, product index, price), the
    per-session truth, the purchases (for replenishment) and the items left in the cart.
    """
    n = len(su)
    ix = np.arange(n)
    repl = rep >= 0
    u, E = w.u, ENGINE
    # what the session is about: a top (taste x season x buzz), then a leaf category
    top = _row_choice(rng, w.affinity[su] * w.top_day[sd])
    trendy = rng.random(n) < u["trend_following"][su]
    leaf = w.leaf_plain.draw(rng, top * w.n_days + sd)
    leaf[trendy] = w.leaf_trendy.draw(rng, top[trendy] * w.n_days + sd[trendy])
    top[repl], leaf[repl] = w.product_top[rep[repl]], w.product_leaf[rep[repl]]
    disc = w.disc_top[sd, top]
    # context the user brings (observable-ish) and hidden intent noise
    x = (u["buy_bias"][su] + w.conv_shift[sd] + E["promo"] * u["promo_sensitivity"][su] * disc
         + E["replenish"] * repl)
    eta0 = x + E["intent_sd"] * rng.standard_normal(n)

    # views: engaged sessions are longer (engagement saturates at intent 3); some views stray
    # to another category
    extra_views = E["views"] * u["depth"][su] * np.exp(E["views_intent"] * np.minimum(eta0, 3))
    n_views = 1 + rng.negative_binomial(1.0, 1.0 / (1.0 + extra_views))
    first = _segment_first(n_views)
    vs = np.repeat(ix, n_views)
    pos = np.arange(len(vs)) - first[vs]
    vleaf = leaf[vs]
    stray = (pos > 0) & (rng.random(len(vs)) < E["stray"])
    st = _row_choice(rng, w.affinity[su[vs[stray]]] * w.top_day[sd[vs[stray]]])
    vleaf[stray] = w.leaf_plain.draw(rng, st * w.n_days + sd[vs[stray]])
    vprod = _choose_products(w, rng, vleaf, sd[vs], su[vs])
    vprod[first[repl]] = rep[repl]
    vprice = np.round(w.price[vprod] * (1 - w.disc_top[sd[vs], w.product_top[vprod]]), 2)
    # how far above the user's comfortable price the viewed items are
    over = np.maximum(0.0, np.log(vprice) - u["ref_log_price"][su[vs]])
    dear = u["price_sensitivity"][su[vs]] * over
    price_fit = -np.bincount(vs, dear, n) / n_views
    x = x + E["price_fit"] * price_fit
    eta = eta0 + E["price_fit"] * price_fit

    # dwell: seconds to the next view, longer when engaged
    log_gap = (np.log(E["dwell"]) + E["dwell_intent"] * np.clip(eta[vs], -3, 3)
               + E["dwell_sd"] * rng.standard_normal(len(vs)))
    gap = np.maximum(2, np.rint(np.exp(log_gap))).astype(np.int64)
    excl = np.cumsum(gap) - gap
    vt = t0[vs] + excl - excl[first][vs]

    # carts: from a viewed product (just after the view) or straight from a listing page
    pc = _sigmoid(E["cart"] + E["cart_intent"] * eta[vs] - E["cart_price"] * dear)
    pc[first[repl]] = np.maximum(pc[first[repl]], 0.85)
    carted = rng.random(len(vs)) < pc
    c_s, c_p, c_price = vs[carted], vprod[carted], vprice[carted]
    c_t = vt[carted] + np.maximum(1, (gap[carted] * rng.uniform(0.2, 0.8, carted.sum())))
    n_direct = rng.poisson(E["direct"] * np.exp(E["direct_intent"] * np.minimum(eta, 3)))
    d_s = np.repeat(ix, n_direct)
    d_p = _choose_products(w, rng, leaf[d_s], sd[d_s], su[d_s])
    d_price = np.round(w.price[d_p] * (1 - w.disc_top[sd[d_s], w.product_top[d_p]]), 2)
    span = excl[first + n_views - 1] - excl[first] + gap[first + n_views - 1]
    d_t = t0[d_s] + (rng.random(len(d_s)) * span[d_s]).astype(np.int64)
    item_s = np.concatenate([c_s, d_s])
    item_p = np.concatenate([c_p, d_p])
    item_price = np.concatenate([c_price, d_price])
    item_t = np.concatenate([c_t, d_t]).astype(np.int64)
    # a second cart event of the same product (quantity + 1)
    dup = rng.random(len(item_s)) < E["dup"]
    dup_t = item_t[dup] + rng.integers(1, 5, dup.sum())
    # removes: hesitant sessions take more back out of the cart
    removed = rng.random(len(item_s)) < _sigmoid(E["remove"] - E["remove_intent"] * eta[item_s])
    rm_t = item_t[removed] + 5 + np.rint(rng.lognormal(np.log(60), 1.0, removed.sum()))
    rm_t = rm_t.astype(np.int64)
    # second thoughts: a kept item is taken out and put back a little later
    dither = ~removed & (rng.random(len(item_s)) < E["dither"])
    dither_out = item_t[dither] + 5 + rng.integers(0, 120, dither.sum())
    dither_in = dither_out + rng.integers(2, 60, dither.sum())

    # the true purchase probability: the user's context plus the session's engagement
    kept = np.bincount(item_s[~removed], minlength=n)
    n_removed = np.bincount(item_s[removed], minlength=n)
    dwell = np.bincount(vs, np.log(gap), n) / n_views - np.log(E["dwell"])
    logit = (E["buy"] + E["buy_context"] * x + E["buy_kept"] * np.log1p(kept)
             - E["buy_removed"] * n_removed + E["buy_dwell"] * dwell)
    logit[kept == 0] = -9.0  # an empty cart (almost) never checks out
    p = np.clip(_sigmoid(logit), 1e-4, 1 - 1e-4)
    buy = rng.random(n) < p

    # checkout: after the last event; kept cart items are bought (at least one)
    end = vt[first + n_views - 1] + gap[first + n_views - 1]
    for s_, t_ in ((item_s, item_t), (item_s[dup], dup_t), (item_s[removed], rm_t),
                   (item_s[dither], dither_in)):
        np.maximum.at(end, s_, t_)
    checkout = end + rng.integers(15, 90, n)
    bought = ~removed & buy[item_s] & (rng.random(len(item_s)) < E["buy_item"])
    need = buy & (np.bincount(item_s[bought], minlength=n) == 0)
    cand = np.flatnonzero(~removed & need[item_s])
    _, first_kept = np.unique(item_s[cand], return_index=True)
    bought[cand[first_kept]] = True
    # buying sessions with nothing left in the cart add the last viewed product at checkout
    # ("buy now"): the cart takes the checkout second (the basket's first purchase, see
    # _spread_baskets), so it is no input before the purchase
    # and its presence (caused by the outcome) cannot give the outcome away
    forced = np.flatnonzero(need & (kept == 0))
    last = first[forced] + n_views[forced] - 1
    f_p, f_price, f_t = vprod[last], vprice[last], checkout[forced]
    b_s = np.concatenate([item_s[bought], forced])
    b_p = np.concatenate([item_p[bought], f_p])
    b_price = np.concatenate([item_price[bought], f_price])
    _, once = np.unique(b_s.astype(np.int64) * len(w.price) + b_p, return_index=True)
    b_s, b_p, b_price = b_s[once], b_p[once], b_price[once]

    parts = [  # (session, second, type code, product, price)
        (vs, vt, 0, vprod, vprice),
        (item_s, item_t, 1, item_p, item_price),
        (item_s[dup], dup_t, 1, item_p[dup], item_price[dup]),
        (forced, f_t, 1, f_p, f_price),
        (item_s[removed], rm_t, 2, item_p[removed], item_price[removed]),
        (item_s[dither], dither_out, 2, item_p[dither], item_price[dither]),
        (item_s[dither], dither_in, 1, item_p[dither], item_price[dither]),
        (b_s, checkout[b_s], 3, b_p, b_price),
    ]
    events = {
        "sess": np.concatenate([q[0] for q in parts]).astype(np.int64),
        "t": np.concatenate([q[1] for q in parts]).astype(np.int64),
        "type": np.concatenate([np.full(len(q[0]), q[2], np.int8) for q in parts]),
        "prod": np.concatenate([q[3] for q in parts]).astype(np.int32),
        "price": np.concatenate([q[4] for q in parts]),
    }
    truth = {"user": su, "t0": t0, "leaf": leaf, "discount": disc, "replenishment": repl,
             "intent": eta, "p": p, "buy": buy, "checkout": checkout}
    left = np.flatnonzero(~removed & ~bought)  # still in the cart when the session ends
    return {"events": events, "truth": truth, "purchases": (b_s, b_p, checkout[b_s]),
            "leftovers": (item_s[left], item_p[left], item_price[left], item_t[left])}


def _replenishment(w: _World, rng, su, purchases) -> tuple:
    """Sessions of users coming back about one cycle after buying a consumable.

    One consumable per order is remembered; the user returns with probability replenish_prob,
    after cycle_days x lognormal(0, 0.12) days, if that still falls inside the window.
    """
    s, prod, t = purchases
    ok = w.cycle[prod] > 0
    s, prod, t = s[ok], prod[ok], t[ok]
    order = np.lexsort((rng.random(len(s)), s))
    _, one = np.unique(s[order], return_index=True)
    pick = order[one]
    s, prod, t = s[pick], prod[pick], t[pick]
    user = su[s]
    back = rng.random(len(s)) < w.u["replenish_prob"][user]
    due = t + w.cycle[prod] * 86400 * rng.lognormal(0, 0.12, len(s))
    day = (due // 86400).astype(np.int64)
    keep = back & (day < w.n_days)
    day = day[keep]
    return user[keep], day, _start_seconds(w, rng, day), prod[keep]


def _assemble(runs, products, users, leaves, brands, start_ts, rng):
    """Concatenate the generations into the REES46 event frame and the session truth."""
    cat = {k: np.concatenate([r["events"][k] + (r["offset"] if k == "sess" else 0)
                              for r in runs]) for k in runs[0]["events"]}
    truth = {k: np.concatenate([r["truth"][k] for r in runs]) for k in runs[0]["truth"]}
    n_sess = len(truth["p"])
    leftovers = [np.concatenate([r["leftovers"][i] + (r["offset"] if i == 0 else 0)
                                 for r in runs]) for i in range(4)]
    extra = _leftover_events(truth, leftovers, cat, len(products), rng)
    for k in cat:
        cat[k] = np.concatenate([cat[k]] + [e[k].astype(cat[k].dtype) for e in extra])
    session_ids = _uuids(rng, n_sess)  # drawn first, so the ids don't depend on the baskets
    _spread_baskets(cat, rng)
    # order by time; within a second by session, then view < cart < remove < purchase
    if cat["t"].max() < 2**25 and n_sess < 2**33:
        key = (cat["t"] << 36) | (cat["sess"] << 3) | cat["type"].astype(np.int64)
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((cat["type"], cat["sess"], cat["t"]))
    cat = {k: v[order] for k, v in cat.items()}
    prod = cat["prod"]
    brand_code = np.where(products.brand_listed, np.searchsorted(brands, products.brand), -1)
    code_code = np.where(products.code_listed,
                         np.searchsorted(leaves, products.category_code), -1)
    start = np.datetime64(start_ts.to_datetime64(), "s")
    user_ids = users.user_id.to_numpy()
    events = pd.DataFrame({
        "event_time": pd.Series(start + cat["t"]).dt.tz_localize("UTC"),
        "event_type": pd.Categorical.from_codes(cat["type"], EVENT_TYPES),
        "product_id": products.product_id.to_numpy()[prod],
        "category_id": products.category_id.to_numpy()[prod],
        "category_code": pd.Categorical.from_codes(code_code[prod], pd.Index(leaves, dtype="str")),
        "brand": pd.Categorical.from_codes(brand_code[prod], pd.Index(brands, dtype="str")),
        "price": cat["price"].astype(np.float64),
        "user_id": user_ids[truth["user"][cat["sess"]]],
        "user_session": pd.Categorical.from_codes(cat["sess"], session_ids),
    })
    by_start = np.argsort(truth["t0"], kind="stable")
    truth = {k: v[by_start] for k, v in truth.items()}
    session_truth = pd.DataFrame({
        "user_session": pd.Series(session_ids.take(by_start), dtype="str"),
        "user_id": user_ids[truth["user"]],
        "session_start": pd.Series(start + truth["t0"]).dt.tz_localize("UTC"),
        "target_category": pd.Categorical.from_codes(truth["leaf"], pd.Index(leaves, dtype="str")),
        "replenishment": truth["replenishment"],
        "discount": truth["discount"],
        "intent": truth["intent"],
        "true_purchase_prob": truth["p"],
        "purchased": truth["buy"],
    })
    return events, session_truth


def _spread_baskets(cat: dict, rng) -> None:
    """Give the items of each checkout distinct seconds, in a random order (in place).

    The engine puts all purchases of a session at its checkout second, built in product
    order; left so, a basket would share one timestamp and list its items by product id,
    and a next-item model would learn the product ids. The first item (of a random order)
    keeps the checkout second, each next one follows 2-9 s later, so the basket still ends
    the session.
    """
    buy = np.flatnonzero(cat["type"] == 3)
    buy = buy[np.lexsort((rng.random(len(buy)), cat["sess"][buy]))]  # by session, random within
    s = cat["sess"][buy]
    new = np.diff(s, prepend=-1) != 0  # a basket's first item
    cum = np.cumsum(np.where(new, 0, rng.integers(2, 10, len(buy))))
    cat["t"][buy] += cum - cum[new][np.cumsum(new) - 1]


def _leftover_events(truth, leftovers, cat, n_products, rng) -> list[dict]:
    """Removes and purchases of items left in the cart when their session ended.

    The cart persists between sessions: at the user's next session each item is cleared out
    (removed within its first seconds) with probability ENGINE["cleanup"], whatever that
    session's outcome (so the removes leak nothing about it); items that stay are bought, with
    probability ENGINE["carry"], at the user's next checkout if it comes within
    ENGINE["cart_days"]. Such a purchase has its cart event in an earlier session of the same
    user, as happens in REES46.
    """
    ls, lp, lprice, lt = leftovers
    user, buy = truth["user"], truth["buy"]
    n = len(user)
    by_user = np.lexsort((truth["t0"], user))
    rank = np.empty(n, np.int64)
    rank[by_user] = np.arange(n)
    # position (in user-then-time order) of the next session, and of the next buying session
    next_any = np.append(by_user, 0)[rank[ls] + 1]
    first_buy = np.minimum.accumulate(np.where(buy[by_user], np.arange(n), n)[::-1])[::-1]
    next_buy = np.append(by_user, 0)[np.append(first_buy, n)[rank[ls] + 1]]
    has_next = (rank[ls] + 1 < n) & (user[next_any] == user[ls])
    has_buy = (np.append(first_buy, n)[rank[ls] + 1] < n) & (user[next_buy] == user[ls])
    # cleared within the next session's first seconds, after the cart and before its checkout
    t_clear = np.maximum(truth["t0"][next_any] + rng.integers(1, 30, len(ls)), lt + 1)
    clear = (has_next & (t_clear < truth["checkout"][next_any])
             & (rng.random(len(ls)) < ENGINE["cleanup"]))
    checkout = truth["checkout"][next_buy]
    fresh_cart = (checkout > lt) & (checkout - lt < ENGINE["cart_days"] * 86400)
    carry = np.flatnonzero(has_buy & ~clear & fresh_cart & (rng.random(len(ls)) < ENGINE["carry"]))
    # one purchase per (session, product): skip products that session buys anyway
    key = next_buy[carry] * n_products + lp[carry]
    _, once = np.unique(key, return_index=True)
    bought = cat["type"] == 3
    fresh = ~np.isin(key[once], cat["sess"][bought] * n_products + cat["prod"][bought])
    carry = carry[once[fresh]]
    parts = [(next_any[clear], t_clear[clear], 2, lp[clear], lprice[clear]),
             (next_buy[carry], checkout[carry], 3, lp[carry], lprice[carry])]
    return [{"sess": q[0], "t": q[1], "type": np.full(len(q[0]), q[2], np.int8), "prod": q[3],
             "price": q[4]} for q in parts]
