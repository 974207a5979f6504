"""Targeting curves, RFM, the simulated campaign and the uplift learner, on hand-worked cases."""

import numpy as np
import pandas as pd
import pytest

from utils.data.schema import ValidationError
from utils.tasks import marketing

EFFECTS = {"keen": 0.3, "flat": 0.0, "sleeping dog": -0.2}


def population(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"user_id": np.arange(n), "segment": rng.choice(list(EFFECTS), n),
                         "base_prob": rng.uniform(0.05, 0.6, n)})


def test_cumulative_sorts_by_score_and_shares_ties():
    (plain,) = marketing.cumulative([3, 2, 1], [1, 0, 1])
    np.testing.assert_allclose(plain, [0, 1, 1, 2])
    # the two rows scored 1 hold one positive between them: each of them adds 0.5
    (tied,) = marketing.cumulative([2, 1, 1, 0], [0, 1, 0, 1])
    np.testing.assert_allclose(tied, [0, 0, 0.5, 1, 2])
    (all_tied,) = marketing.cumulative([5, 5, 5, 5], [1, 1, 0, 0])
    np.testing.assert_allclose(all_tied, [0, 0.5, 1, 1.5, 2])


def test_gains_and_lift_by_hand():
    y = [1, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    score = np.arange(10, 0, -1)
    assert marketing.gains_at(y, score, 0.1) == pytest.approx({"gains": 0.5, "lift": 5.0})
    assert marketing.gains_at(y, score, 0.4) == pytest.approx({"gains": 1.0, "lift": 2.5})
    x, gains = marketing.gains_curve(y, score)
    assert x[0] == gains[0] == 0 and x[-1] == gains[-1] == 1
    # a constant score is random targeting: gains equal the share contacted, lift is 1
    assert marketing.gains_at(y, np.zeros(10), 0.3) == pytest.approx({"gains": 0.3, "lift": 1.0})


def test_gains_refuse_bad_input():
    with pytest.raises(ValueError, match="at least one positive"):
        marketing.gains_curve([0, 0, 0], [1, 2, 3])
    with pytest.raises(ValueError, match="share"):
        marketing.gains_at([1, 0], [1, 0], 1.5)


def test_profit_curve_by_hand():
    # margin 10, cost 2: k=1 -> 10 - 2, k=2 -> 10 - 4, k=3 -> 20 - 6
    np.testing.assert_allclose(marketing.profit_curve([1, 0, 1], [3, 2, 1], 10, 2), [0, 8, 6, 14])
    expected = marketing.profit_curve([0.5, 0.1], [0.5, 0.1], margin=4, contact_cost=1)
    np.testing.assert_allclose(expected, [0, 1, 0.4])  # contact only while p x margin > cost
    assert int(np.argmax(expected)) == 1


def test_rfm_score_by_hand():
    score = marketing.rfm_score(recency_days=[1, 10, np.nan], frequency=[3, 1, 0], monetary=[20, 5, 0],
                                bins=2)
    # user 0 is the most recent, most frequent and biggest spender: 2 + 2 + 2; user 2 never bought
    np.testing.assert_allclose(score, [6, 3, 0])


def test_qini_curve_and_coefficient_by_hand():
    # rows by score: (treated, bought), (control, -), (treated, -), (control, bought)
    curve = marketing.qini_curve(outcome=[1, 0, 0, 1], treated=[1, 0, 1, 0], score=[4, 3, 2, 1])
    np.testing.assert_allclose(curve, [0, 1, 1, 1, 0])
    # q = Q / 4 = [0, .25, .25, .25, 0] on x = k / 4, random line q(1) x = 0: trapezoid = 0.1875
    assert marketing.qini_coefficient(curve) == pytest.approx(0.1875)
    assert marketing.qini_auuc(curve) == pytest.approx(0.1875)
    # the control term: k=3 holds 1 treated buyer, 1 of 2 control users bought -> 1 - 1 x 1 / 2
    curve = marketing.qini_curve([1, 1, 0, 1], [1, 0, 0, 1], [4, 3, 2, 1])
    np.testing.assert_allclose(curve, [0, 1, 0, 0.5, 1])


def test_qini_weights_count_rows_repeatedly():
    y, t, s = [1, 0, 1, 0, 1], [1, 1, 0, 0, 1], [5, 4, 3, 2, 1]
    np.testing.assert_allclose(marketing.qini_curve(y, t, s, np.ones(5)), marketing.qini_curve(y, t, s))
    doubled = marketing.qini_curve(y, t, s, [2, 1, 1, 1, 1])
    repeated = marketing.qini_curve([1, 1, 0, 1, 0, 1], [1, 1, 1, 0, 0, 1], [5, 5, 4, 3, 2, 1])
    assert doubled[-1] == pytest.approx(repeated[-1])
    # one row per resample: the coefficients come back one per row
    weights = np.vstack([np.ones(5), [2, 1, 1, 1, 1]])
    assert marketing.qini_coefficient(marketing.qini_curve(y, t, s, weights)).shape == (2,)


def test_perfect_uplift_ranking_beats_random():
    campaign = marketing.simulate_campaign(population(), EFFECTS, seed=1)
    y, t = campaign["outcome"], campaign["treated"]
    perfect = marketing.qini_coefficient(marketing.qini_curve(y, t, campaign["true_uplift"]))
    random = marketing.qini_coefficient(marketing.qini_curve(y, t, np.random.default_rng(2).random(len(y))))
    backwards = marketing.qini_coefficient(marketing.qini_curve(y, t, -campaign["true_uplift"]))
    assert perfect > 0.02 > 0.005 > abs(random)
    assert backwards < -0.02


def test_campaign_is_deterministic_and_randomised():
    pop = population()
    a = marketing.simulate_campaign(pop, EFFECTS, treated_share=0.5, seed=3)
    b = marketing.simulate_campaign(pop, EFFECTS, treated_share=0.5, seed=3)
    c = marketing.simulate_campaign(pop, EFFECTS, treated_share=0.5, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["treated"].equals(c["treated"])
    assert a["treated"].sum() == 3000
    assert a["treated"].groupby(a["segment"]).mean().between(0.45, 0.55).all()
    observed = a["outcome"].where(a["treated"] == 1, a["outcome_control"])
    assert observed.equals(a["outcome"])


def test_campaign_effects_differ_by_segment():
    campaign = marketing.simulate_campaign(population(20000), EFFECTS, seed=0)
    effect = campaign["segment"].map(EFFECTS)
    expected = np.clip(campaign["base_prob"] + effect, 0, 1) - campaign["base_prob"]
    np.testing.assert_allclose(campaign["true_uplift"], expected)
    true = campaign.groupby("segment")["true_uplift"].mean()
    assert true["keen"] == pytest.approx(0.3) and true["flat"] == 0  # base <= 0.6: no clipping
    assert -0.2 < true["sleeping dog"] < -0.15  # clipped at 0 for users with a base below 0.2
    rates = campaign.groupby(["segment", "treated"])["outcome"].mean().unstack()
    observed = rates[1] - rates[0]
    assert observed["keen"] > 0.2 and abs(observed["flat"]) < 0.03 and observed["sleeping dog"] < -0.1
    # one uniform draw per user: a positive effect only adds buyers, a negative one only removes them
    keen = campaign[campaign["segment"] == "keen"]
    assert (keen["outcome_treated"] >= keen["outcome_control"]).all()


def test_campaign_errors_name_the_problem():
    with pytest.raises(ValidationError, match=r"base_prob.*Add or rename"):
        marketing.simulate_campaign(population().drop(columns="base_prob"), EFFECTS)
    with pytest.raises(KeyError, match="sleeping dog"):
        marketing.simulate_campaign(population(), {"keen": 0.1, "flat": 0.0})
    with pytest.raises(ValueError, match="treated_share"):
        marketing.simulate_campaign(population(), EFFECTS, treated_share=1.0)


@pytest.mark.parametrize("learner", ["boosting", "logistic"])
def test_t_learner_finds_the_responsive_users(learner):
    rng = np.random.default_rng(0)
    n = 8000
    x = np.column_stack([rng.integers(0, 2, n), rng.normal(size=n)])
    pop = pd.DataFrame({"user_id": np.arange(n), "segment": np.where(x[:, 0] == 1, "keen", "flat"),
                        "base_prob": 0.1 + 0.05 * (x[:, 1] > 0)})
    campaign = marketing.simulate_campaign(pop, EFFECTS, seed=0)
    train = np.arange(n) < n // 2
    pred = marketing.t_learner(x[train], campaign["treated"][train], campaign["outcome"][train], x[~train],
                               learner=learner)
    assert list(pred.columns) == ["p_treated", "p_control", "uplift"]
    by_group = pred["uplift"].groupby(x[~train, 0]).mean()
    assert by_group[1] - by_group[0] > 0.2  # true difference 0.3
    with pytest.raises(ValueError, match="same outcome"):
        marketing.t_learner(x[:10], [1] * 5 + [0] * 5, [0] * 10, x[:10])
    with pytest.raises(ValueError, match="unknown learner"):
        marketing.make_classifier("forest")


def test_user_features_by_hand():
    t = pd.Timestamp("2020-01-01", tz="UTC")
    events = pd.DataFrame({
        "event_time": [t, t + pd.Timedelta(hours=1), t + pd.Timedelta(days=2), t + pd.Timedelta(days=4)],
        "event_type": pd.Categorical(["view", "purchase", "view", "view"]),
        "product_id": [1, 1, 2, 2], "price": [10.0, 10.0, 4.0, 4.0],
        "user_id": [7, 7, 7, 8], "user_session": pd.Categorical(["a", "a", "b", "c"])})
    products = pd.DataFrame({"product_id": [1, 2], "top": ["skincare", "makeup"]})
    users = pd.DataFrame({"user_id": [7, 8, 9], "age": [30, 40, 50],
                          "gender": pd.Categorical(["F", "M", "F"]),
                          "region": pd.Categorical(["n", "s", "n"])})
    f = marketing.user_features(events, [7, 8, 9], products, users)
    assert f.loc[7, ["sessions", "views", "purchases", "spend", "mean_basket"]].tolist() == [2, 2, 1, 10, 10]
    assert f.loc[7, "days_since_last_session"] == pytest.approx(2.0)
    assert f.loc[7, "days_since_last_purchase"] == pytest.approx(4 - 1 / 24)
    assert f.loc[8, "days_since_last_purchase"] == pytest.approx(4.0)  # never: the log's length
    assert f.loc[7, "share_skincare"] == pytest.approx(2 / 3)
    assert f.loc[9, ["sessions", "purchases", "spend"]].tolist() == [0, 0, 0]  # no events
    assert f.loc[9, "age"] == 50 and f.loc[8, "gender_M"] == 1
    with pytest.raises(ValidationError, match="price"):
        marketing.user_features(events.drop(columns="price"), [7])


def test_baselines_by_hand():
    user_truth = pd.DataFrame({"user_id": [1, 2, 3], "segment": pd.Categorical(["a", "a", "b"]),
                               "activity": [30.0, 15.0, 3.0]})
    session_truth = pd.DataFrame({"user_id": [1, 1, 3], "true_purchase_prob": [0.05, 0.15, 0.5]})
    base = marketing.baseline_from_truth(user_truth, session_truth, days=30)
    # user 1: 30 sessions x 0.1; user 2 has no session: its segment's mean 0.1; user 3: 3 x 0.5
    np.testing.assert_allclose(base["base_prob"], 1 - np.exp(-np.array([3.0, 1.5, 1.5])))
    assert base["segment"].tolist() == ["a", "a", "b"]

    features = pd.DataFrame({"sessions": [0, 4, 10], "purchases": [0, 1, 3]}, index=[1, 2, 3])
    stand_in = marketing.baseline_from_behaviour(features, days=30, span_days=60)
    assert stand_in["segment"].tolist() == ["browser", "one-time buyer", "repeat buyer"]
    assert set(stand_in["segment"]) <= set(marketing.STAND_IN_UPLIFT)
    np.testing.assert_allclose(stand_in["base_prob"], 1 - np.exp(-np.array([0, 2 * 2 / 24, 5 * 4 / 30])))
