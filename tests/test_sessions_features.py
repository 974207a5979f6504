"""Unit tests of utils.data.sessions (the purchase task, the time split, user history) and
utils.data.features (sequence encoding, session aggregates, demographics) on tiny hand-built logs."""

import json

import numpy as np
import pandas as pd
import pytest

from utils.data.features import (
    EVENT_CODES,
    EVENT_INPUTS,
    NUMERIC_FEATURES,
    PAD,
    UNKNOWN,
    SequenceEncoder,
    demographics,
    session_aggregates,
)
from utils.data.sessions import SPLITS, decision_points, purchase_task, time_split, user_history

DAY0 = pd.Timestamp("2024-03-01", tz="UTC")
COLUMNS = ["user_session", "user_id", "event_time", "event_type", "product_id", "category_id", "brand",
           "price"]


def make_events(rows) -> pd.DataFrame:
    """Events with the simulator's dtypes from (session, user, seconds after DAY0, type, product,
    category, brand, price) tuples."""
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["event_time"] = (DAY0 + pd.to_timedelta(frame["event_time"], unit="s")).astype("datetime64[s, UTC]")
    for col in ("user_session", "event_type", "brand"):
        frame[col] = frame[col].astype("category")
    frame["product_id"] = frame["product_id"].astype(np.int64)
    frame["category_id"] = frame["category_id"].astype(np.int64)
    frame["user_id"] = frame["user_id"].astype(np.int64)
    frame["price"] = frame["price"].astype(float)
    return frame


# session "a": a purchase at t=30 with a view at the same second (excluded) and events after it
# session "b": no purchase; starts first
# session "c": opens with a purchase (no input: dropped)
# session "d": two purchases; input is what precedes the first one
BASIC = [
    ("a", 1, 10, "view", 11, 100, "x", 5.0),
    ("a", 1, 20, "cart", 11, 100, "x", 5.0),
    ("a", 1, 30, "view", 12, 100, "x", 7.0),
    ("a", 1, 30, "purchase", 11, 100, "x", 5.0),
    ("a", 1, 40, "view", 13, 200, "y", 9.0),
    ("b", 2, 0, "view", 21, 200, None, 3.0),
    ("b", 2, 50, "view", 22, 200, None, 4.0),
    ("b", 2, 60, "cart", 22, 200, None, 4.0),
    ("c", 3, 5, "purchase", 31, 300, "z", 8.0),
    ("c", 3, 6, "view", 31, 300, "z", 8.0),
    ("d", 4, 15, "view", 41, 100, "x", 2.0),
    ("d", 4, 16, "view", 42, 100, "x", 2.0),
    ("d", 4, 17, "purchase", 41, 100, "x", 2.0),
    ("d", 4, 18, "cart", 43, 100, "x", 2.0),
    ("d", 4, 19, "purchase", 43, 100, "x", 2.0),
]


# --------------------------------------------------------------------------------------------
# purchase_task


def test_purchase_task_labels_inputs_and_dropped_sessions():
    sessions, inputs = purchase_task(make_events(BASIC))
    # "c" opens with a purchase: no input, left out; the rest sorted by start
    assert sessions["user_session"].tolist() == ["b", "a", "d"]
    assert sessions["label"].tolist() == [0, 1, 1]
    assert sessions["n_events"].tolist() == [3, 2, 2]
    assert sessions["start"].is_monotonic_increasing
    assert sessions["start"].tolist() == [DAY0, DAY0 + pd.Timedelta(seconds=10),
                                          DAY0 + pd.Timedelta(seconds=15)]
    assert sessions["end"].tolist() == [DAY0 + pd.Timedelta(seconds=60), DAY0 + pd.Timedelta(seconds=20),
                                        DAY0 + pd.Timedelta(seconds=16)]
    # inputs: strictly before the first purchase (the view at the purchase's second is out)
    assert not inputs["event_type"].astype(str).eq("purchase").any()
    a = inputs[inputs["user_session"].astype(str) == "a"]
    assert a["event_type"].astype(str).tolist() == ["view", "cart"]
    assert a["product_id"].tolist() == [11, 11]
    d = inputs[inputs["user_session"].astype(str) == "d"]
    assert d["product_id"].tolist() == [41, 42]
    # ``session`` points at the row of ``sessions``; events of a session in time order
    owner = sessions["user_session"].to_numpy()[inputs["session"]]
    assert (owner == inputs["user_session"].astype(str)).all()
    assert inputs["session"].is_monotonic_increasing
    assert inputs.groupby("session")["event_time"].apply(lambda t: t.is_monotonic_increasing).all()
    assert (inputs.groupby("session").size().to_numpy() == sessions["n_events"].to_numpy()).all()


def test_purchase_task_does_not_depend_on_row_order():
    events = make_events(BASIC)
    shuffled = events.sample(frac=1.0, random_state=3)
    s1, i1 = purchase_task(events)
    s2, i2 = purchase_task(shuffled)
    pd.testing.assert_frame_equal(s1, s2)
    cols = ["session", "event_time", "event_type", "product_id"]
    pd.testing.assert_frame_equal(i1[cols], i2[cols])


def test_decision_points_hold_the_first_k_events_of_each_session():
    sessions, inputs = purchase_task(make_events(BASIC))  # rows: b (3 events), a (2), d (2)
    sessions["split"] = ["train", "test", "test"]
    points, point_inputs = decision_points(sessions, inputs, max_k=2)
    assert points["session"].tolist() == [0, 0, 1, 1, 2, 2]
    assert points["k"].tolist() == [1, 2, 1, 2, 1, 2]
    assert points["n_events"].tolist() == points["k"].tolist()
    assert points["label"].tolist() == [0, 0, 1, 1, 1, 1]  # the session goes on to buy
    assert points["split"].tolist() == ["train", "train", "test", "test", "test", "test"]
    assert (points["start"] == sessions["start"].to_numpy()[points["session"]]).all()
    # b at k = 2: its first two events; `end` is the time of event k
    b2 = point_inputs[point_inputs["session"] == 1]
    assert b2["event_time"].tolist() == [DAY0, DAY0 + pd.Timedelta(seconds=50)]
    assert points.loc[1, "end"] == DAY0 + pd.Timedelta(seconds=50)
    assert points.loc[0, "end"] == points.loc[0, "start"]
    # every point holds exactly the first k input events of its session, in order
    cols = ["event_time", "event_type", "product_id", "price"]
    for row, point in points.iterrows():
        mine = point_inputs.loc[point_inputs["session"] == row, cols].reset_index(drop=True)
        first = inputs.loc[inputs["session"] == point["session"], cols].head(point["k"])
        first = first.reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, first)
    # max_k above every session's length: one point per input event, the last one the whole input
    points, point_inputs = decision_points(sessions, inputs, max_k=10)
    assert points.groupby("session").size().tolist() == sessions["n_events"].tolist()
    assert len(point_inputs) == sum(n * (n + 1) // 2 for n in sessions["n_events"])
    with pytest.raises(ValueError, match="at least one event"):
        decision_points(sessions, inputs, max_k=0)


# --------------------------------------------------------------------------------------------
# time_split


def _sessions_on_days(days):
    start = [DAY0 + pd.Timedelta(days=d, hours=h) for d, h in days]
    return pd.DataFrame({"user_session": [f"s{i}" for i in range(len(start))], "start": start})


def test_time_split_last_days_test_then_validation_then_train():
    # days 0..6; 2 test days (5, 6), 2 validation days (3, 4), the rest training
    sessions = _sessions_on_days([(0, 1), (1, 23), (2, 0), (3, 5), (4, 22), (5, 0), (6, 12), (6, 23)])
    split = time_split(sessions, validation_days=2, test_days=2)
    assert list(split.cat.categories) == list(SPLITS)
    assert split.index.equals(sessions.index)
    assert split.astype(str).tolist() == ["train"] * 3 + ["validation"] * 2 + ["test"] * 3


def test_time_split_uses_calendar_days_not_24h_windows():
    # the last session is at 00:30 on day 3, the previous one at 23:30 on day 2: different days
    sessions = _sessions_on_days([(0, 0), (1, 0), (2, 23.5), (3, 0.5)])
    split = time_split(sessions, validation_days=1, test_days=1)
    assert split.astype(str).tolist() == ["train", "train", "validation", "test"]


def test_time_split_too_short_data_is_a_clear_error():
    sessions = _sessions_on_days([(0, 1), (1, 1), (2, 1)])
    with pytest.raises(ValueError, match=r"spans 3 days.*2 validation.*1 test"):
        time_split(sessions, validation_days=2, test_days=1)
    # one training day left: fine
    split = time_split(_sessions_on_days([(0, 1), (1, 1), (2, 1), (3, 1)]), 2, 1)
    assert split.astype(str).tolist() == ["train", "validation", "validation", "test"]


# --------------------------------------------------------------------------------------------
# user_history

H = 3600  # seconds


def _history_events(extra=()):
    """User 1: s1 (day 0, buys for 20), s2 (day 2), s3 (day 5). User 2: one session."""
    rows = [
        ("s1", 1, 0, "view", 1, 100, "x", 20.0),
        ("s1", 1, 60, "view", 2, 100, "x", 10.0),
        ("s1", 1, 120, "view", 3, 200, "x", 10.0),
        ("s1", 1, 180, "purchase", 1, 100, "x", 20.0),
        ("s2", 1, 48 * H, "view", 4, 100, "x", 5.0),
        ("s2", 1, 48 * H + 60, "cart", 4, 100, "x", 5.0),
        ("s3", 1, 120 * H, "view", 5, 200, "x", 5.0),
        ("u2", 2, 30 * H, "view", 9, 100, "x", 5.0),
        *extra,
    ]
    return make_events(rows)


def _history(events):
    sessions, inputs = purchase_task(events)
    history = user_history(sessions, inputs, events)
    return sessions, history.set_axis(sessions["user_session"])


def test_user_history_counts_only_earlier_sessions():
    sessions, h = _history(_history_events())
    assert h.index.tolist() == ["s1", "u2", "s2", "s3"]
    for first in ("s1", "u2"):
        assert h.loc[first, "prior_sessions"] == 0
        assert h.loc[first, "prior_purchases"] == 0
        assert h.loc[first, "days_since_last_session"] == -1
        assert h.loc[first, "days_since_last_purchase"] == -1
        assert h.loc[first, "prior_mean_events"] == 0
        assert h.loc[first, "prior_mean_basket"] == 0
        assert h.loc[first, "category_affinity"] == 0
    # the purchase of s1 shows in s2 and s3
    assert h.loc["s2", "prior_sessions"] == 1 and h.loc["s3", "prior_sessions"] == 2
    assert h.loc["s2", "prior_purchases"] == 1 and h.loc["s3", "prior_purchases"] == 1
    assert h.loc["s2", "days_since_last_session"] == pytest.approx(2.0)
    assert h.loc["s3", "days_since_last_session"] == pytest.approx(3.0)
    assert 0 < h.loc["s2", "days_since_last_purchase"] <= 2.0
    assert h.loc["s2", "days_since_last_purchase"] == pytest.approx(2.0, abs=0.01)
    assert h.loc["s3", "days_since_last_purchase"] == pytest.approx(5.0, abs=0.01)
    assert h.loc["s2", "prior_mean_basket"] == pytest.approx(20.0)
    assert h.loc["s2", "prior_mean_events"] == pytest.approx(3.0)  # s1 had 3 input events
    assert h.loc["s3", "prior_mean_events"] == pytest.approx(2.5)  # (3 + 2) / 2
    # s2 opens in category 100: 2 of the user's 3 earlier input events were in it
    assert h.loc["s2", "category_affinity"] == pytest.approx(2 / 3)
    # s3 opens in category 200: 1 of 5 earlier input events
    assert h.loc["s3", "category_affinity"] == pytest.approx(1 / 5)
    # the history is aligned with the rows of ``sessions``
    assert sessions["user_session"].tolist() == h.index.tolist()


def test_user_history_never_sees_the_current_sessions_label():
    _, before = _history(_history_events())
    # s3 (the user's last session) now ends with a purchase; its own history must not change
    _, after = _history(_history_events([("s3", 1, 120 * H + 60, "purchase", 5, 200, "x", 99.0)]))
    pd.testing.assert_series_equal(before.loc["s3"], after.loc["s3"])
    pd.testing.assert_frame_equal(before.drop(index="s3"), after.drop(index="s3"))


def test_user_history_purchase_in_a_later_session_does_not_leak_backwards():
    _, before = _history(_history_events())
    _, after = _history(_history_events([("s2", 1, 48 * H + 120, "purchase", 4, 100, "x", 5.0)]))
    for col in before.columns:
        assert before.loc["s2", col] == after.loc["s2", col], col
    assert after.loc["s3", "prior_purchases"] == 2
    assert after.loc["s3", "days_since_last_purchase"] == pytest.approx(3.0, abs=0.01)
    assert after.loc["s3", "prior_mean_basket"] == pytest.approx((20.0 + 5.0) / 2)


def test_user_history_is_cut_at_the_sessions_start_when_sessions_overlap():
    """s4 starts while s1 is still running, before s1's purchase: that purchase, and s1's
    events after s4 began, were not known when s4 started."""
    _, h = _history(_history_events([("s4", 1, 90, "view", 7, 100, "x", 5.0)]))
    assert h.loc["s4", "prior_sessions"] == 1
    assert h.loc["s4", "prior_purchases"] == 0
    assert h.loc["s4", "days_since_last_purchase"] == -1
    assert h.loc["s4", "prior_mean_basket"] == 0
    assert h.loc["s4", "prior_mean_events"] == pytest.approx(2.0)  # s1's views at 0 s and 60 s
    # later sessions see s1's purchase as before
    assert h.loc["s2", "prior_purchases"] == 1
    assert h.loc["s2", "prior_mean_basket"] == pytest.approx(20.0)


# --------------------------------------------------------------------------------------------
# SequenceEncoder


def _inputs(rows):
    """Input events with a ``session`` column from (session, seconds, type, product, category,
    brand, price) tuples; sessions are numbered and already in time order."""
    frame = pd.DataFrame(rows, columns=["session", "event_time", "event_type", "product_id", "category_id",
                                        "brand", "price"])
    frame["event_time"] = (DAY0 + pd.to_timedelta(frame["event_time"], unit="s")).astype("datetime64[s, UTC]")
    frame["event_type"] = frame["event_type"].astype("category")
    frame["brand"] = frame["brand"].astype("category")
    return frame


TRAIN = _inputs([
    (0, 0, "view", 1, 100, "x", 10.0),
    (0, 10, "view", 2, 100, "x", 20.0),
    (0, 30, "cart", 2, 200, "y", 20.0),
    (1, 100, "view", 3, 100, "x", 5.0),
    (1, 200, "remove_from_cart", 3, 200, "y", 5.0),
    (2, 0, "view", 4, 300, "rare", 40.0),
])


def test_encoder_vocabularies_come_from_training_inputs_only():
    encoder = SequenceEncoder(max_len=4, min_count=2).fit(TRAIN)
    # 100 and 200 occur >= 2 times, 300 once: below min_count
    assert set(encoder.categories) == {100, 200}
    assert set(encoder.brands) == {"x", "y"}
    assert min(encoder.categories.values()) == 2 and min(encoder.brands.values()) == 2
    assert encoder.vocab_sizes == {"event_type": len(EVENT_CODES) + 1, "category": 4, "brand": 4}
    test = _inputs([
        (0, 0, "view", 1, 100, "x", 10.0),
        (0, 5, "cart", 9, 999, "new", 10.0),   # category and brand never seen in training
        (0, 9, "view", 4, 300, "rare", 10.0),  # seen, but below min_count
        (1, 0, "view", 1, 200, None, 10.0),    # missing brand
    ])
    arrays = encoder.transform(test, n_sessions=2)
    assert arrays["category"][0].tolist() == [encoder.categories[100], UNKNOWN, UNKNOWN, PAD]
    assert arrays["brand"][0].tolist() == [encoder.brands["x"], UNKNOWN, UNKNOWN, PAD]
    assert arrays["category"][1].tolist() == [encoder.categories[200], PAD, PAD, PAD]
    assert arrays["brand"][1].tolist() == [UNKNOWN, PAD, PAD, PAD]
    view, cart = EVENT_CODES["view"], EVENT_CODES["cart"]
    assert arrays["event_type"][0].tolist() == [view, cart, view, PAD]
    # every code fits its embedding
    for name in ("event_type", "category", "brand"):
        assert arrays[name].max() < encoder.vocab_sizes[name]


def test_encoder_keeps_the_last_events_left_aligned_and_zero_padded():
    inputs = _inputs([
        (0, 0, "view", 1, 100, "x", 1.0),
        (0, 1, "cart", 1, 100, "x", 1.0),
        (0, 2, "remove_from_cart", 1, 100, "x", 1.0),
        (0, 3, "view", 1, 100, "x", 1.0),
        (0, 4, "cart", 1, 100, "x", 1.0),
        (1, 0, "cart", 1, 100, "x", 1.0),
        (1, 1, "view", 1, 100, "x", 1.0),
        (3, 0, "remove_from_cart", 1, 100, "x", 1.0),
    ])
    encoder = SequenceEncoder(max_len=3, min_count=1).fit(inputs)
    arrays = encoder.transform(inputs, n_sessions=4)  # session 2 has no events
    assert arrays["length"].tolist() == [3, 2, 0, 1]
    assert arrays["length"].dtype == np.int32
    # the LAST three events of session 0, in time order
    assert arrays["event_type"].tolist() == [[3, 1, 2], [2, 1, 0], [0, 0, 0], [3, 0, 0]]
    assert arrays["numeric"].shape == (4, 3, len(NUMERIC_FEATURES))
    for name in ("event_type", "category", "brand"):
        assert arrays[name].shape == (4, 3)
        for row, n in enumerate(arrays["length"]):
            assert (arrays[name][row, :n] != PAD).all()
            assert (arrays[name][row, n:] == PAD).all()
    for row, n in enumerate(arrays["length"]):
        assert (arrays["numeric"][row, n:] == 0).all()


def test_encoder_numeric_features_use_training_statistics():
    encoder = SequenceEncoder(max_len=4, min_count=1).fit(TRAIN, product_sentiment={"4": 0.5, 2: -0.25})
    log_price = np.log1p(TRAIN["price"].to_numpy())
    assert encoder.means["log_price"] == pytest.approx(log_price.mean())
    assert encoder.stds["log_price"] == pytest.approx(log_price.std(ddof=1))
    # gaps (seconds) within sessions: 0, 10, 20 | 0, 100 | 0
    log_gap = np.log1p([0, 10, 20, 0, 100, 0])
    assert encoder.means["log_gap"] == pytest.approx(log_gap.mean())
    assert encoder.stds["log_gap"] == pytest.approx(log_gap.std(ddof=1))

    test = _inputs([(0, 0, "view", 4, 100, "x", 1000.0), (0, 50, "view", 2, 100, "x", 1000.0)])
    arrays = encoder.transform(test, n_sessions=1)
    numeric = arrays["numeric"][0]
    col = {name: i for i, name in enumerate(NUMERIC_FEATURES)}
    expected_price = (np.log1p(1000.0) - log_price.mean()) / log_price.std(ddof=1)
    assert numeric[:2, col["log_price"]] == pytest.approx([expected_price] * 2, rel=1e-5)
    expected_gap = (np.log1p([0, 50]) - log_gap.mean()) / log_gap.std(ddof=1)
    assert numeric[:2, col["log_gap"]] == pytest.approx(expected_gap, rel=1e-5)
    assert numeric[:2, col["repeat_product"]].tolist() == [0.0, 0.0]
    assert numeric[:2, col["sentiment"]] == pytest.approx([0.5, -0.25])
    # midnight UTC: hour 0, and 50 seconds later (still minute 0)
    assert numeric[:2, col["hour_sin"]] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert numeric[:2, col["hour_cos"]] == pytest.approx([1.0, 1.0])
    # the statistics did not move by transforming other data
    assert encoder.means["log_price"] == pytest.approx(log_price.mean())


def test_encoder_round_trips_through_json():
    encoder = SequenceEncoder(max_len=3, min_count=1).fit(TRAIN, product_sentiment={1: 0.3, 3: -0.1})
    restored = SequenceEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert restored.vocab_sizes == encoder.vocab_sizes
    test = _inputs([
        (0, 0, "view", 1, 100, "x", 10.0), (0, 7, "cart", 3, 200, "y", 5.0),
        (0, 9, "view", 8, 555, "q", 2.0), (0, 12, "view", 1, 300, None, 10.0),
        (1, 3, "view", 3, 300, "rare", 1.0),
    ])
    a, b = encoder.transform(test, 2), restored.transform(test, 2)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# --------------------------------------------------------------------------------------------
# session_aggregates and demographics


def test_session_aggregates_counts_and_duration():
    sessions, inputs = purchase_task(make_events(BASIC))  # rows: b, a, d
    agg = session_aggregates(sessions, inputs, SequenceEncoder(min_count=1).fit(inputs))
    assert agg.index.tolist() == [0, 1, 2]
    assert agg["n_events"].tolist() == [3, 2, 2]
    assert agg["n_view"].tolist() == [2, 1, 2]
    assert agg["n_cart"].tolist() == [1, 1, 0]
    assert agg["n_remove_from_cart"].tolist() == [0, 0, 0]
    assert agg["net_cart"].tolist() == [1, 1, 0]
    assert agg["last_is_cart"].tolist() == [1, 1, 0]
    assert agg["n_products"].tolist() == [2, 1, 2]
    assert agg["n_categories"].tolist() == [1, 1, 1]
    assert agg["duration_min"].tolist() == pytest.approx([1.0, 10 / 60, 1 / 60])
    assert agg.loc[0, "mean_log_price"] == pytest.approx(np.log1p([3.0, 4.0, 4.0]).mean())
    assert agg.loc[0, "max_log_price"] == pytest.approx(np.log1p(4.0))
    assert agg.loc[0, "repeat_share"] == pytest.approx(1 / 3)  # the cart repeats product 22
    assert agg["weekend"].tolist() == [int(DAY0.weekday() >= 5)] * 3
    assert not agg.isna().any().any()


def test_session_aggregates_sessions_without_inputs_get_zeros():
    sessions, inputs = purchase_task(make_events(BASIC))
    encoder = SequenceEncoder(min_count=1).fit(inputs)
    agg = session_aggregates(sessions, inputs[inputs["session"] != 1], encoder)
    assert len(agg) == len(sessions)
    assert agg.loc[1, ["n_events", "n_view", "n_cart", "last_is_cart"]].tolist() == [0, 0, 0, 0]


def test_demographics_without_users_is_an_empty_frame():
    sessions, _ = purchase_task(make_events(BASIC))
    for users in (None, pd.DataFrame(columns=["user_id", "age", "gender", "region"])):
        out = demographics(sessions, users)
        assert out.shape == (len(sessions), 0)
        assert out.index.equals(sessions.index)


def test_demographics_one_hot_and_age_filled_with_the_median():
    sessions, _ = purchase_task(make_events(BASIC))  # users 2, 1, 4
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "age": [20.0, None, 50.0, 40.0],
                          "gender": ["f", "m", "f", "f"], "region": ["north", "south", "east", "north"]})
    out = demographics(sessions, users)
    assert out.index.equals(sessions.index)
    assert out.columns[0] == "age"
    assert out["age"].tolist() == [30.0, 20.0, 40.0]  # user 2's age: median of the joined users
    assert out["gender_m"].tolist() == [1.0, 0.0, 0.0]
    assert out["gender_f"].tolist() == [0.0, 1.0, 1.0]
    assert out["region_north"].tolist() == [0.0, 1.0, 1.0]
    assert "region_east" not in out.columns  # only users with sessions


def test_session_aggregates_summarise_categories_brands_and_sentiment_with_the_training_encoder():
    sessions, inputs = purchase_task(make_events(BASIC))  # rows: b (200, no brand), a (100, x), d (100, x)
    train = inputs[inputs["session"] == 1]  # session a only: category 100, brand x
    encoder = SequenceEncoder(min_count=1, n_top=1).fit(train, product_sentiment={11: 0.5, 41: 0.3, 42: -0.1})
    assert encoder.top_categories == [100] and encoder.top_brands == ["x"]
    agg = session_aggregates(sessions, inputs, encoder)
    # category 200 and the missing brand were not in training: they count as "other"
    assert agg["category_top1_share"].tolist() == [0.0, 1.0, 1.0]
    assert agg["category_other_share"].tolist() == [1.0, 0.0, 0.0]
    assert agg["brand_top1_share"].tolist() == [0.0, 1.0, 1.0]
    assert agg["brand_other_share"].tolist() == [1.0, 0.0, 0.0]
    assert agg["n_brands"].tolist() == [0, 1, 1]
    # session a shows product 11 twice, d products 41 and 42; unknown products have sentiment 0
    assert agg.loc[1, ["mean_sentiment", "min_sentiment", "max_sentiment"]].tolist() == [0.5, 0.5, 0.5]
    assert agg.loc[2, "mean_sentiment"] == pytest.approx(0.1)
    assert agg.loc[2, ["min_sentiment", "max_sentiment"]].tolist() == [-0.1, 0.3]
    assert agg.loc[0, ["mean_sentiment", "min_sentiment", "max_sentiment"]].tolist() == [0, 0, 0]
    assert not agg.isna().any().any()


def _perturbed(inputs: pd.DataFrame, column: str) -> pd.DataFrame:
    """``inputs`` with one column changed in every event."""
    out = inputs.copy()
    if column == "event_time":
        out[column] = out[column] + pd.to_timedelta(np.arange(len(out)) * 7 + 3600 * 5, unit="s")
    elif column == "event_type":
        out[column] = pd.Categorical(["cart"] * len(out))
    elif column == "brand":
        out[column] = pd.Categorical(["x"] * len(out))
    elif column == "price":
        out[column] = out[column] * np.arange(2, len(out) + 2)
    else:  # ids: every event its own
        out[column] = np.arange(len(out)) + 100
    return out


def test_sequences_and_session_summaries_read_the_same_event_columns():
    """Both views of a session come from the columns of EVENT_INPUTS: changing any of them
    changes both, and no other column is read by either."""
    events = make_events(BASIC)
    sessions, inputs = purchase_task(events)
    sentiment = {11: 0.5, 12: -0.25, 21: 0.1, 22: 0.2, 41: 0.3, 42: -0.3}
    encoder = SequenceEncoder(max_len=5, min_count=1, n_top=3).fit(inputs, sentiment)

    def views(frame):
        arrays = encoder.transform(frame, len(sessions))
        return arrays, session_aggregates(sessions, frame, encoder)

    base_arrays, base_agg = views(inputs)
    only = inputs[[*EVENT_INPUTS, "session"]]
    arrays, agg = views(only)  # nothing else is needed (user_id, user_session, category_code, ...)
    pd.testing.assert_frame_equal(agg, base_agg)
    for name in base_arrays:
        np.testing.assert_array_equal(arrays[name], base_arrays[name])
    for column in EVENT_INPUTS:
        arrays, agg = views(_perturbed(only, column))
        assert any(not np.array_equal(arrays[n], base_arrays[n]) for n in base_arrays), column
        assert not agg.equals(base_agg), column


def test_demographics_encoders_are_fitted_on_the_training_rows_only():
    sessions, _ = purchase_task(make_events(BASIC))  # users 2, 1, 4
    users = pd.DataFrame({"user_id": [1, 2, 4], "age": [20.0, None, 60.0],
                          "gender": ["f", "m", "x"], "region": ["north", "south", "east"]})
    train = np.array([True, True, False])  # users 2 and 1
    out = demographics(sessions, users, train)
    assert out["age"].tolist() == [20.0, 20.0, 60.0]  # user 2's missing age: the training median
    assert list(out.columns) == ["age", "gender_f", "gender_m", "region_north", "region_south"]
    assert out.loc[2].tolist() == [60.0, 0.0, 0.0, 0.0, 0.0]  # user 4's levels unseen in training
