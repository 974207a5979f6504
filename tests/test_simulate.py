"""Tests of utils.data.simulate, the embedded default dataset (small shops, a few seconds in all)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from utils.data import schema, simulate
from utils.data.simulate import (
    CATALOGUE_COLUMNS,
    EVENT_COLUMNS,
    EVENT_TYPES,
    MARGINAL_RANGES,
    PUBLISHED_MARGINALS,
    Shop,
    catalogue_from_sephora,
    compare_marginals,
    marginals,
    read_shop,
    simulate_shop,
    write_shop,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SEPHORA = SHARED / "sephora" / "product_info.csv"
REES46_SAMPLE = SHARED / "rees46_cosmetics" / "cosmeticsshop-sample.csv"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


@pytest.fixture(scope="module")
def shop() -> Shop:
    return simulate_shop(n_users=8000, n_days=90, seed=7)


@pytest.fixture(scope="module")
def big() -> Shop:
    """A longer, busier shop (Black Friday and Christmas inside) for the statistical tests."""
    return simulate_shop(n_users=20000, n_days=120, start="2019-10-15", seed=1)


def _kinds(events: pd.DataFrame) -> pd.Series:
    return events["event_type"].astype(str)


def _assert_same(left: pd.DataFrame, right: pd.DataFrame, name: str) -> None:
    """assert_frame_equal, with categoricals compared by codes and categories (much faster)."""
    assert list(left.columns) == list(right.columns), name
    for col in left.columns:
        a, b = left[col], right[col]
        if isinstance(a.dtype, pd.CategoricalDtype):
            assert a.dtype == b.dtype, (name, col)
            np.testing.assert_array_equal(a.cat.codes, b.cat.codes, err_msg=f"{name}.{col}")
        else:
            pd.testing.assert_series_equal(a, b, obj=f"{name}.{col}")


# ------------------------------------------------------------------------------- schema


def test_events_have_the_exact_rees46_schema(shop):
    e = shop.events
    assert EVENT_COLUMNS is schema.COLUMNS and EVENT_TYPES is schema.EVENT_TYPES  # one schema
    assert tuple(e.columns) == EVENT_COLUMNS
    assert str(e["event_time"].dtype) == "datetime64[s, UTC]"
    assert isinstance(e["event_type"].dtype, pd.CategoricalDtype)
    assert tuple(e["event_type"].cat.categories) == EVENT_TYPES
    for col in ("product_id", "category_id", "user_id"):
        assert e[col].dtype == np.int64, col
    assert e["price"].dtype == np.float64
    for col in ("category_code", "brand", "user_session"):
        assert isinstance(e[col].dtype, pd.CategoricalDtype), col
        assert e[col].cat.categories.dtype == "str", col
    assert e["event_time"].is_monotonic_increasing
    assert e["user_session"].notna().all() and e["price"].gt(0).all()
    assert e["category_id"].min() > 10**18  # REES46-style large ids
    sessions = pd.Series(e["user_session"].cat.categories)
    assert sessions.str.match(UUID).all() and sessions.is_unique
    codes = e["category_code"].dropna().astype(str)
    assert codes.str.count(r"\.").ge(1).all()  # dotted hierarchy, e.g. skincare.face.serum
    # a session belongs to one user
    assert e.groupby("user_session", observed=True)["user_id"].nunique().eq(1).all()


def test_side_tables_have_their_columns(shop):
    assert list(shop.products.columns) == CATALOGUE_COLUMNS + ["brand_listed", "code_listed"]
    assert shop.products["product_id"].is_unique
    assert set(shop.events["product_id"]) <= set(shop.products["product_id"])
    assert list(shop.users.columns) == ["user_id", "age", "gender", "region"]
    assert shop.users["gender"].astype(str).eq("F").mean() > 0.7  # mostly female
    assert {"user_id", "segment", "price_sensitivity", "brand_loyalty"} <= set(shop.user_truth)
    assert shop.user_truth["segment"].nunique() == 5
    assert list(shop.reviews.columns) == ["review_id", "product_id", "user_id", "submitted",
                                          "rating", "text"]
    assert list(shop.social.columns) == ["date", "level", "name", "mentions"]
    assert set(shop.social["level"].astype(str)) == {"category", "brand"}
    assert len(shop.calendar) == 90
    consumable = shop.products[shop.products["consumable"]]
    assert consumable["cycle_days"].gt(0).all()
    assert shop.products.loc[~shop.products["consumable"], "cycle_days"].isna().all()
    cycles = shop.products.groupby("kind")["cycle_days"].first()
    assert cycles["moisturiser"] == 45 and cycles["mascara"] == 90
    assert cycles["perfume"] > cycles["moisturiser"] and np.isnan(cycles["makeup brush"])


# ------------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_tables(shop):
    again = simulate_shop(n_users=8000, n_days=90, seed=7)
    for name in Shop.TABLES:
        _assert_same(getattr(shop, name), getattr(again, name), name)


def test_different_seeds_differ(shop):
    other = simulate_shop(n_users=8000, n_days=90, seed=8)
    assert not shop.events.head(1000).equals(other.events.head(1000))
    assert set(shop.events["user_session"].cat.categories[:100]).isdisjoint(
        other.events["user_session"].cat.categories)


# ------------------------------------------------------------------------------- calibration


def test_marginals_fall_within_the_published_ranges(big):
    measured = marginals(big.events)
    assert set(measured) == set(PUBLISHED_MARGINALS) == set(MARGINAL_RANGES)
    for key, (low, high) in MARGINAL_RANGES.items():
        assert low <= measured[key] <= high, (key, measured[key])
    table = compare_marginals(big.events)
    assert table["within"].all() and list(table.columns[:2]) == ["simulated", "published"]


@pytest.mark.skipif(not REES46_SAMPLE.is_file(), reason=f"{REES46_SAMPLE} not present")
def test_marginals_work_on_the_real_rees46_sample():
    real = pd.read_csv(REES46_SAMPLE)
    assert tuple(real.columns) == EVENT_COLUMNS  # the simulator writes the same columns
    measured = marginals(real)
    assert set(measured) == set(PUBLISHED_MARGINALS)
    assert measured["category_code_missing_share"] > 0.8 and 0.4 < measured["share_view"] < 0.6


def test_time_patterns_and_seasonal_peaks(big):
    t = big.events["event_time"]
    hours = t.dt.hour.value_counts()
    assert hours[20] > 3 * hours[4]  # evening peak, quiet night
    daily = t.dt.floor("D").dt.tz_localize(None).value_counts().sort_index()
    assert daily[pd.Timestamp("2019-11-29")] > 2 * daily.loc["2019-11-18":"2019-11-22"].mean()
    assert daily.loc["2019-12-16":"2019-12-20"].mean() > daily.loc["2019-11-11":"2019-11-15"].mean()
    cal = big.calendar.set_index("date")
    assert cal.loc["2019-11-29", "event"] == "black_friday"
    assert cal.loc["2019-11-29", "discount"] > 0
    # promotions raise conversion
    st = big.session_truth
    assert st.loc[st["discount"] > 0, "purchased"].mean() > st.loc[st["discount"] == 0,
                                                                   "purchased"].mean()


def test_valentines_boosts_fragrance():
    """The same shop (same seed, same latent buzz) run in late January and in June."""

    def fragrance_share(start):
        st = simulate_shop(n_users=8000, n_days=36, start=start, seed=3).session_truth
        fragrance = st["target_category"].astype(str).str.startswith("fragrance")
        day = (st["session_start"] - pd.Timestamp(start, tz="UTC")).dt.days
        return fragrance[day >= 28].mean()  # 7-14 February in the first run

    assert fragrance_share("2020-01-10") > 1.4 * fragrance_share("2020-06-10")


# ------------------------------------------------------------------------------- funnel


def test_purchases_and_removes_follow_a_cart_of_the_same_product(shop):
    e = shop.events
    kind = _kinds(e)
    carts = e[kind == "cart"].groupby(["user_id", "product_id"])["event_time"].min()
    for action in ("purchase", "remove_from_cart"):
        rows = e[kind == action]
        first_cart = carts.reindex(pd.MultiIndex.from_frame(rows[["user_id", "product_id"]]))
        assert (first_cart.to_numpy() <= rows["event_time"].to_numpy()).all(), action
    # most purchases are carted in their own session (the rest were left in an earlier cart)
    same = e[kind == "cart"][["user_session", "product_id"]].drop_duplicates()
    bought = e[kind == "purchase"][["user_session", "product_id"]]
    assert bought.merge(same, how="left", indicator=True)["_merge"].eq("both").mean() > 0.55


def test_an_order_is_several_purchase_events_a_few_seconds_apart(shop):
    p = shop.events[_kinds(shop.events) == "purchase"]
    per_order = p.groupby("user_session", observed=True)
    assert per_order["event_time"].nunique().eq(per_order.size()).all()
    assert per_order.size().mean() > 1.5  # several products per order
    assert not p.duplicated(["user_session", "product_id"]).any()
    gaps = per_order["event_time"].diff().dropna().dt.total_seconds()
    assert gaps.between(2, 9).all()
    # the checkout ends the session
    last = shop.events.groupby("user_session", observed=True)["event_time"].max()
    checkout = per_order["event_time"].max()
    assert (checkout.to_numpy() == last.reindex(checkout.index).to_numpy()).all()


def test_basket_items_get_distinct_times_in_a_random_order():
    """Not one timestamp per basket listed by product id (a next-item model would learn the
    ids), but a random order, the same for the same seed."""
    small = simulate_shop(n_users=5000, n_days=60, seed=11)
    e = small.events
    p = e[_kinds(e) == "purchase"]
    per_order = p.groupby("user_session", observed=True)
    assert per_order["event_time"].nunique().eq(per_order.size()).all()
    big_orders = per_order["product_id"].agg(list)[per_order.size() >= 3]
    assert len(big_orders) > 50
    sorted_share = np.mean([ids == sorted(ids) for ids in big_orders])
    assert sorted_share < 0.3  # random order: at most 1/6 (of 3! orders); the old order: all
    again = simulate_shop(n_users=5000, n_days=60, seed=11)
    _assert_same(e, again.events, "events")


# ------------------------------------------------------------------------------- ground truth


def test_true_probability_is_inside_0_1_and_ranks_outcomes(shop):
    st = shop.session_truth
    p = st["true_purchase_prob"]
    assert p.gt(0).all() and p.lt(1).all()
    assert set(st["user_session"]) == set(shop.events["user_session"].cat.categories)
    has_purchase = set(shop.events.loc[_kinds(shop.events) == "purchase", "user_session"])
    assert set(st.loc[st["purchased"], "user_session"]) == has_purchase
    auc = roc_auc_score(st["purchased"], p)
    assert 0.7 < auc < 0.97  # predictable, but not perfectly
    assert set(shop.user_truth["user_id"]) == set(shop.users["user_id"])


def test_events_before_the_first_purchase_carry_the_signal(shop):
    """Buying sessions show more carts and longer dwell before they check out."""
    e = shop.events
    kind = _kinds(e)
    first_buy = e[kind == "purchase"].groupby("user_session", observed=True)["event_time"].min()
    cut = e["user_session"].map(first_buy)
    pre = e[cut.isna() | (e["event_time"] < cut)]
    pre_kind = _kinds(pre)
    g = pre.assign(cart=pre_kind == "cart", view=pre_kind == "view").groupby(
        "user_session", observed=True)
    span = g["event_time"].agg(["min", "max"])
    feats = pd.DataFrame({"carts": g["cart"].sum(), "views": g["view"].sum(),
                          "seconds": (span["max"] - span["min"]).dt.total_seconds()})
    st = shop.session_truth.set_index("user_session")
    y = st["purchased"].reindex(feats.index.astype(str)).to_numpy()
    assert feats.loc[y, "carts"].mean() > 2 * feats.loc[~y, "carts"].mean()
    per_view = feats["seconds"] / feats["views"]
    assert per_view[y].median() > per_view[~y].median()
    auc_carts = roc_auc_score(y, feats["carts"])
    assert 0.7 < auc_carts < roc_auc_score(st["purchased"], st["true_purchase_prob"]) + 0.02


def test_segments_differ_in_conversion(big):
    st = big.session_truth.merge(big.user_truth[["user_id", "segment"]], on="user_id")
    conv = st.groupby("segment", observed=True)["purchased"].mean()
    assert conv["window shopper"] < 0.5 * conv["loyal skincare"]


# ------------------------------------------------------------------------------- dynamics


def test_repeat_purchases_of_consumables_cluster_around_the_cycle(big):
    e = big.events
    p = e.loc[_kinds(e) == "purchase", ["user_id", "product_id", "event_time"]]
    p = p.merge(big.products[["product_id", "cycle_days"]], on="product_id")
    p = p[p["cycle_days"].notna()].sort_values("event_time")
    previous = p.groupby(["user_id", "product_id"])["event_time"].shift()
    gap = (p["event_time"] - previous).dt.total_seconds() / 86400 / p["cycle_days"]
    gap = gap.dropna()
    assert len(gap) > 200

    def density(low, high):
        return gap.between(low, high).mean() / (high - low)

    assert density(0.85, 1.15) > 1.5 * density(0.5, 0.8)
    assert density(0.85, 1.15) > 3 * density(1.3, 2.0)
    st = big.session_truth
    assert st.loc[st["replenishment"], "purchased"].mean() > 3 * st["purchased"].mean()


def test_social_mentions_lead_category_demand(big):
    e = big.events
    views = e[_kinds(e) == "view"]
    code = views["product_id"].map(big.products.set_index("product_id")["category_code"])
    day = views["event_time"].dt.floor("D").dt.tz_localize(None)
    daily = pd.crosstab(day, code)
    share = np.log(daily.div(daily.sum(axis=1), axis=0) + 1e-4)
    social = big.social[big.social["level"].astype(str) == "category"]
    mentions = np.log(social.pivot(index="date", columns="name", values="mentions")
                      .reindex(index=share.index, columns=share.columns) + 1)
    lags = np.arange(-14, 15)
    corr = [np.nanmean([mentions[c].corr(share[c].shift(-lag)) for c in share.columns])
            for lag in lags]
    best = lags[int(np.argmax(corr))]
    assert 4 <= best <= 10, dict(zip(lags, np.round(corr, 2), strict=True))
    assert max(corr) > 0.3


def test_review_words_depend_on_rating_and_category(shop):
    r = shop.reviews.merge(shop.products[["product_id", "top"]], on="product_id")
    assert r["rating"].between(1, 5).all() and r["rating"].mean() > 3.3
    text = r["text"].str.lower()
    good = text.str.contains("love|holy grail|best|obsessed|really like|happy|pretty good|solid")
    assert good[r["rating"] >= 4].mean() > 0.8 > good[r["rating"] <= 2].mean()
    assert text[r["top"] == "skincare"].str.contains("skin|pores|breakouts").mean() > 0.5
    assert text[r["top"] == "fragrance"].str.contains("skin|pores|breakouts").mean() < 0.1


# ------------------------------------------------------------------------------- Sephora, I/O


@pytest.mark.skipif(not SEPHORA.is_file(), reason=f"{SEPHORA} not present")
def test_sephora_catalogue_seeds_the_shop():
    info = pd.read_csv(SEPHORA)
    cat = catalogue_from_sephora(info, n_products=800, seed=0)
    assert list(cat.columns) == CATALOGUE_COLUMNS and len(cat) == 800
    real = info.assign(pid=info["product_id"].str[1:].astype(np.int64)).set_index("pid")
    assert (cat["product_name"].to_numpy() == real.loc[cat["product_id"], "product_name"]).all()
    assert (cat["price"].to_numpy() == real.loc[cat["product_id"], "price_usd"]).all()
    assert set(cat["brand"]) <= set(info["brand_name"].str.strip())
    assert cat["category_code"].str.match(r"^[a-z_]+(\.[a-z0-9_]+)*$").all()
    serums = cat[cat["category_code"] == "skincare.treatments.face_serums"]
    assert len(serums) and serums["kind"].eq("serum").all() and serums["consumable"].all()
    s = simulate_shop(n_users=3000, n_days=30, catalogue=cat, seed=0)
    assert set(s.events["product_id"]) <= set(cat["product_id"])
    named = s.events["brand"].dropna().astype(str)
    assert set(named) <= set(cat["brand"]) and len(named) > 0
    assert s.events["price"].median() > 10  # Sephora prices are real, not REES46-like


@pytest.mark.skipif(not SEPHORA.is_file(), reason=f"{SEPHORA} not present")
def test_sephora_catalogue_from_the_typed_loader_equals_the_plain_csv():
    from utils.data.sources import load_sephora_products

    typed = catalogue_from_sephora(load_sephora_products(SEPHORA), n_products=300, seed=1)
    plain = catalogue_from_sephora(pd.read_csv(SEPHORA), n_products=300, seed=1)
    for column in ("product_id", "product_name", "category_code", "price"):
        assert (typed[column].astype(str).to_numpy() == plain[column].astype(str).to_numpy()).all()


def test_write_and_read_round_trip(shop, tmp_path):
    folder = write_shop(shop, tmp_path / "shop")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{n}.parquet" for n in Shop.TABLES] + ["shop.json"])  # no temporary files left
    back = read_shop(folder)
    for name in Shop.TABLES:
        _assert_same(getattr(back, name), getattr(shop, name), name)
    assert back.params["seed"] == 7 and back.params["n_users"] == 8000
    with pytest.raises(FileNotFoundError, match="events.parquet"):
        read_shop(tmp_path)


def test_a_catalogue_without_a_needed_column_is_bad_data():
    catalogue = simulate_shop(n_users=50, n_days=7, seed=0).products.drop(columns="kind")
    with pytest.raises(schema.ValidationError, match=r"the catalogue has no column\(s\) \['kind'\]"):
        simulate_shop(n_users=50, n_days=7, catalogue=catalogue)
    with pytest.raises(schema.ValidationError, match=r"product_info has no column\(s\) \['rating'\]"):
        catalogue_from_sephora(pd.DataFrame(columns=["product_id", "product_name", "brand_name",
                                                     "price_usd", "primary_category",
                                                     "secondary_category", "tertiary_category",
                                                     "loves_count"]))


def test_the_package_exports_the_public_api_and_runs_as_a_command():
    for name in ("simulate_shop", "Shop", "write_shop", "read_shop", "marginals",
                 "compare_marginals", "catalogue_from_sephora", "bench_simulator",
                 "PUBLISHED_MARGINALS", "MARGINAL_RANGES", "CATALOGUE_COLUMNS", "EVENT_COLUMNS",
                 "EVENT_TYPES", "KINDS", "TOPS", "SEGMENTS", "ENGINE", "REGIONS"):
        assert name in simulate.__all__ and hasattr(simulate, name), name
    done = subprocess.run([sys.executable, "-m", "utils.data.simulate", "--help"],
                          capture_output=True, text=True, check=True)
    assert "--benchmark" in done.stdout


def test_no_cart_placed_by_the_outcome_shows_before_the_purchase(shop):
    """Checkout comes 15-90 s after the session's last cart action; a buying session whose cart
    was empty adds its product at the checkout second, not among the events before the purchase
    (a cart just before checkout, there only because the session buys, would give the label away)."""
    e = shop.events
    kind = _kinds(e)
    first_buy = e[kind == "purchase"].groupby("user_session", observed=True)["event_time"].min()
    cut = e["user_session"].map(first_buy)
    carts_before = e[(kind == "cart") & cut.notna() & (e["event_time"] < cut)]
    last_cart = carts_before.groupby("user_session", observed=True)["event_time"].max()
    wait = (first_buy.reindex(last_cart.index) - last_cart).dt.total_seconds()
    assert wait.min() >= 15
    # the sessions that needed such a cart exist in this shop, and got it at checkout
    at_checkout = e[(kind == "cart") & (e["event_time"] == cut)]
    assert at_checkout["user_session"].nunique() > 0


# ------------------------------------------------------------------------------- a changed regime


def test_a_shops_own_products_table_makes_the_same_shop_again():
    shop = simulate_shop(n_users=1500, n_days=30, start="2019-11-10", seed=3)
    again = simulate_shop(n_users=1500, n_days=30, start="2019-11-10", seed=3, catalogue=shop.products)
    for name in Shop.TABLES:
        _assert_same(getattr(shop, name), getattr(again, name), name)
    # without the flags the brands and codes each product shows are drawn afresh
    fresh = simulate_shop(n_users=1500, n_days=30, start="2019-11-10", seed=3,
                          catalogue=shop.products.drop(columns=["brand_listed", "code_listed"]))
    assert not fresh.products["brand_listed"].equals(shop.products["brand_listed"])


def test_a_store_wide_promotion_discounts_every_price_from_its_first_day_and_lifts_buying():
    arguments = dict(n_users=3000, n_days=40, start="2019-10-01", seed=5)
    normal = simulate_shop(**arguments)
    promoted = simulate_shop(**arguments, catalogue=normal.products, promotion_from="2019-10-21",
                             promotion_discount=0.3)
    first = pd.Timestamp("2019-10-21")
    on = (promoted.calendar["date"] >= first).to_numpy()
    assert (promoted.calendar["discount"][on] == 0.3).all()
    assert (promoted.calendar["promo_scope"][on] == "all").all()
    pd.testing.assert_frame_equal(promoted.calendar[~on], normal.calendar[~on])  # before it: as drawn
    _assert_same(promoted.users, normal.users, "users")  # the same shoppers
    # every view on a promotion day costs 30% less than the product's list price
    views = promoted.events[_kinds(promoted.events).eq("view")
                            & (promoted.events["event_time"] >= first.tz_localize("UTC"))]
    list_price = views["product_id"].map(normal.products.set_index("product_id")["price"])
    np.testing.assert_allclose(views["price"], (list_price * 0.7).round(2), atol=0.006)
    truth = promoted.session_truth
    during = (truth["session_start"] >= first.tz_localize("UTC")).to_numpy()
    assert (truth["discount"][during] == 0.3).all()
    normal_rate = normal.session_truth["purchased"][
        (normal.session_truth["session_start"] >= first.tz_localize("UTC")).to_numpy()].mean()
    assert truth["purchased"][during].mean() > 1.3 * normal_rate  # shoppers who like promotions buy more


@pytest.mark.parametrize(("changes", "message"), [
    ({"promotion_from": "2019-12-01", "promotion_discount": 0.2},
     r"outside the window 2019-10-01 to 2019-10-10"),
    ({"promotion_from": "2019-10-05", "promotion_discount": 0.0},
     r"promotion_discount = 0.0: .* between 0 and 1"),
    ({"promotion_from": "2019-10-05", "promotion_discount": 1.0}, r"promotion_discount = 1.0"),
])
def test_a_promotion_outside_the_window_or_without_a_discount_is_a_clear_error(changes, message):
    with pytest.raises(ValueError, match=message):
        simulate_shop(n_users=50, n_days=10, start="2019-10-01", seed=0, **changes)
