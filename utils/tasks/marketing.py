"""Precision marketing: whom to contact, how many, and whether the contact changes anything.

- Targeting by score: cumulative gains, lift and the profit of contacting the top k
  (``cumulative``, ``gains_curve``, ``gains_at``, ``profit_curve``), and the RFM baseline score.
- A simulated campaign with a known, segment-dependent treatment effect (``simulate_campaign``),
  a two-model uplift learner (``t_learner``) and the Qini curve that evaluates it.

Every curve is computed on arrays sorted once by score. Sessions or users with the same score
share their totals evenly (the expected value under random tie-breaking), so a score with many
ties, such as RFM, is neither flattered nor punished by the order of the rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from utils.core.config import one_openmp_thread
from utils.data.features import demographics
from utils.data.schema import require_columns

# Effects of a contact on P(buy) for segments made from behaviour, used when the data has no
# simulator truth (real data): browsers need a nudge, repeat buyers would buy anyway.
STAND_IN_UPLIFT = {"browser": 0.03, "one-time buyer": 0.05, "repeat buyer": -0.03}


def cumulative(score, *values) -> list[np.ndarray]:
    """Cumulative sums of each ``values`` array over the rows sorted by ``score`` (highest first).

    Returns, per array, n + 1 entries: the sum over the top k rows for k = 0..n. Rows with equal
    scores share their sum evenly: inside a tie group of size g holding a total T, each row adds
    T / g. ``values`` may be 2-D (one row per bootstrap resample); the sort is along the last axis.
    """
    score = np.asarray(score, dtype=float)
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    n = len(ranked)
    last = np.r_[ranked[1:] != ranked[:-1], True]  # the last row of each tie group
    ends = np.flatnonzero(last)
    group = np.cumsum(np.r_[0, last[:-1]])  # tie group of each sorted row
    start = np.r_[0, ends[:-1] + 1][group]
    end = ends[group]
    k = np.arange(1, n + 1)
    out = []
    for v in values:
        cum = np.cumsum(np.asarray(v, dtype=float)[..., order], axis=-1)
        cum = np.concatenate([np.zeros(cum.shape[:-1] + (1,)), cum], axis=-1)  # cum[..., k]
        before, total = cum[..., start], cum[..., end + 1] - cum[..., start]
        out.append(np.concatenate([cum[..., :1], before + (k - start) / (end - start + 1) * total],
                                  axis=-1))
    return out


def gains_curve(y, score) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gains: (share contacted k/n, share of all positives among the top k), k = 0..n."""
    y = np.asarray(y, dtype=float)
    if y.sum() <= 0:
        raise ValueError("gains need at least one positive (buyer) among the rows")
    (cum,) = cumulative(score, y)
    return np.arange(len(y) + 1) / len(y), cum / y.sum()


def gains_at(y, score, share: float) -> dict[str, float]:
    """Gains and lift of contacting the top ``share`` of rows (k = round(share x n), at least 1).

    gains = positives in the top k / all positives; lift = gains / (k / n), the top-k rate of
    positives over the overall rate (random targeting: gains = k / n, lift = 1).
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], got {share}")
    x, gains = gains_curve(y, score)
    k = max(1, int(round(share * (len(x) - 1))))
    return {"gains": float(gains[k]), "lift": float(gains[k] / x[k])}


def profit_curve(value, score, margin: float, contact_cost: float) -> np.ndarray:
    """Profit of contacting the top k rows, k = 0..n: margin x (sum of value in the top k) - k x cost.

    ``value`` is what a contact brings in orders: the purchase label (realised profit), the
    predicted purchase probability (expected profit, every buyer credited to the contact), or the
    true or predicted uplift (incremental profit).
    """
    (cum,) = cumulative(score, value)
    return margin * cum - contact_cost * np.arange(len(cum))


def rfm_score(recency_days, frequency, monetary, bins: int = 5) -> np.ndarray:
    """The classic RFM score: R + F + M, each 1..``bins`` by quantile among past buyers.

    Recent (small ``recency_days``), frequent and big-spending buyers score high; rows without a
    past purchase (``frequency`` 0) score 0 and rank last.
    """
    bought = np.asarray(frequency, dtype=float) > 0
    score = np.zeros(len(bought))
    for column, sign in ((recency_days, -1.0), (frequency, 1.0), (monetary, 1.0)):
        pct = pd.Series(sign * np.asarray(column, dtype=float)[bought]).rank(pct=True).to_numpy()
        score[bought] += np.ceil(pct * bins)
    return score


# --------------------------------------------------------------------------------------------
# Users, their baseline propensity and a simulated campaign
# --------------------------------------------------------------------------------------------

def user_features(events: pd.DataFrame, user_ids, products: pd.DataFrame | None = None,
                  users: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per user of ``user_ids`` (index user_id): behaviour over the whole event log, as
    of its last event, and demographics when ``users`` is given. Users without events get zeros.

    Columns: sessions, views, carts, purchases (sessions with a purchase), spend and mean_basket
    ($), days_since_last_session / _purchase (the log's length in days when never), mean_log_price
    of viewed products, share_<top> of events per top category (when ``products`` has ``top``),
    then age and one-hot gender_* and region_*.
    """
    require_columns(events, ["user_id", "user_session", "event_time", "event_type", "price"], "events")
    e = events.assign(kind=events["event_type"].astype(str), session=events["user_session"].astype(str))
    end = e["event_time"].max()
    span = (end - e["event_time"].min()) / pd.Timedelta(days=1)
    buys = e[e["kind"] == "purchase"]
    g = e.groupby("user_id")
    kinds = pd.crosstab(e["user_id"], e["kind"])
    out = pd.DataFrame({
        "sessions": g["session"].nunique(),
        "views": kinds.get("view", 0),
        "carts": kinds.get("cart", 0),
        "purchases": buys.groupby("user_id")["session"].nunique(),
        "spend": buys.groupby("user_id")["price"].sum(),
        "days_since_last_session": (end - g["event_time"].max()) / pd.Timedelta(days=1),
        "days_since_last_purchase": (end - buys.groupby("user_id")["event_time"].max())
        / pd.Timedelta(days=1),
        "mean_log_price": np.log1p(e.loc[e["kind"] == "view", "price"]).groupby(e["user_id"]).mean(),
    })
    out["mean_basket"] = out["spend"] / out["purchases"]
    if products is not None and "top" in products:
        top = e["product_id"].map(products.set_index("product_id")["top"]).astype(str)
        shares = pd.crosstab(e["user_id"], top, normalize="index").add_prefix("share_")
        out = out.join(shares)
    out = out.reindex(pd.Index(user_ids, name="user_id"))
    never = ["days_since_last_session", "days_since_last_purchase"]
    out[never] = out[never].fillna(span)  # "not within the log": longer ago than its length
    out["mean_log_price"] = out["mean_log_price"].fillna(out["mean_log_price"].median())
    out = out.fillna(0.0)
    if users is not None and not users.empty:
        demo = demographics(out.index.to_frame(index=False), users)
        out = out.join(demo.set_axis(out.index))
    return out


def baseline_from_truth(user_truth: pd.DataFrame, session_truth: pd.DataFrame, days: int) -> pd.DataFrame:
    """Each simulated user's segment and chance to buy within ``days`` days without a contact.

    From the simulator's truth: sessions come at ``activity`` per 30 days, each buys with the
    user's mean true purchase probability (the segment's mean for users without sessions), so
    P(buy) = 1 - exp(-activity x days / 30 x that probability).
    """
    require_columns(user_truth, ["user_id", "segment", "activity"], "user_truth")
    require_columns(session_truth, ["user_id", "true_purchase_prob"], "session_truth")
    conv = user_truth["user_id"].map(session_truth.groupby("user_id")["true_purchase_prob"].mean())
    conv = conv.fillna(conv.groupby(user_truth["segment"], observed=True).transform("mean")).fillna(0.0)
    rate = user_truth["activity"].to_numpy() * days / 30 * conv.to_numpy()
    return pd.DataFrame({"user_id": user_truth["user_id"].to_numpy(),
                         "segment": user_truth["segment"].astype(str).to_numpy(),
                         "base_prob": 1 - np.exp(-rate)})


def baseline_from_behaviour(features: pd.DataFrame, days: int, span_days: float) -> pd.DataFrame:
    """The same for data without truth: segments from purchases (keys of STAND_IN_UPLIFT) and
    P(buy) from the observed session rate and a smoothed purchase rate per session."""
    require_columns(features, ["sessions", "purchases"], "features")
    purchases = features["purchases"].to_numpy(float)
    segment = np.select([purchases >= 2, purchases == 1], ["repeat buyer", "one-time buyer"], "browser")
    conv = (purchases + 1) / (features["sessions"].to_numpy(float) + 20)  # Beta(1, 19) prior
    rate = features["sessions"].to_numpy(float) / span_days * days * conv
    return pd.DataFrame({"user_id": features.index.to_numpy(), "segment": segment,
                         "base_prob": 1 - np.exp(-rate)})


def simulate_campaign(population: pd.DataFrame, uplift_by_segment: dict, treated_share: float = 0.5,
                      seed: int = 0) -> pd.DataFrame:
    """A randomised campaign with a known effect; the same seed gives the same campaign.

    ``population`` has user_id, segment and base_prob (P(buy) without a contact). A random
    ``treated_share`` of users is contacted; a contact moves P(buy) by the segment's effect in
    ``uplift_by_segment`` (clipped to [0, 1]). Both potential outcomes are drawn from one uniform
    number per user (buy if u < probability), so a contact can only add or remove buyers in the
    direction of the effect. Returns the population with prob_control, prob_treated, true_uplift,
    treated, outcome (the observed purchase) and outcome_control / outcome_treated.
    """
    require_columns(population, ["user_id", "segment", "base_prob"], "population")
    unknown = sorted(set(population["segment"].astype(str)) - set(uplift_by_segment))
    if unknown:
        raise KeyError(f"uplift_by_segment has no effect for segment(s) {unknown}; "
                       f"give each segment of the population an effect (known: {sorted(uplift_by_segment)})")
    if not 0 < treated_share < 1:
        raise ValueError(f"treated_share must be between 0 and 1 (exclusive), got {treated_share}")
    rng = np.random.default_rng(seed)
    n = len(population)
    treated = np.zeros(n, dtype=bool)
    treated[rng.permutation(n)[: int(round(treated_share * n))]] = True
    u = rng.random(n)
    p0 = population["base_prob"].to_numpy(float)
    p1 = np.clip(p0 + population["segment"].astype(str).map(uplift_by_segment).to_numpy(float), 0, 1)
    out = population.reset_index(drop=True).copy()
    out["prob_control"], out["prob_treated"], out["true_uplift"] = p0, p1, p1 - p0
    out["outcome_control"], out["outcome_treated"] = (u < p0).astype(int), (u < p1).astype(int)
    out["treated"] = treated.astype(int)
    out["outcome"] = np.where(treated, out["outcome_treated"], out["outcome_control"])
    return out


# --------------------------------------------------------------------------------------------
# Uplift: the two-model learner and the Qini curve
# --------------------------------------------------------------------------------------------

def make_classifier(learner: str, seed: int = 0):
    """A small, regularised scikit-learn classifier: "boosting" or "logistic"."""
    if learner == "boosting":
        # shallow trees and large leaves: an uplift is a small difference of two noisy models
        return HistGradientBoostingClassifier(max_iter=60, learning_rate=0.05, max_depth=2,
                                              min_samples_leaf=100, random_state=seed)
    if learner == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000))
    raise ValueError(f"unknown learner {learner!r}; expected 'boosting' or 'logistic'")


def t_learner(x_train, treated, outcome, x_test, learner: str = "boosting", seed: int = 0) -> pd.DataFrame:
    """Two-model uplift: one classifier on the treated, one on the control users of the training
    rows; the predicted uplift of a test row is P(buy | contacted) - P(buy | not contacted).

    Returns p_treated, p_control and uplift for the rows of ``x_test``.
    """
    treated = np.asarray(treated).astype(bool)
    outcome = np.asarray(outcome).astype(int)
    for name, rows in (("treated", treated), ("control", ~treated)):
        if len(np.unique(outcome[rows])) < 2:
            raise ValueError(f"the {name} training users all have the same outcome: the campaign "
                             "is too small to learn from; raise the number of users")
    p = {}
    with one_openmp_thread():  # a few thousand rows: threads cost more than they save
        for name, rows in (("treated", treated), ("control", ~treated)):
            model = make_classifier(learner, seed).fit(np.asarray(x_train)[rows], outcome[rows])
            p[name] = model.predict_proba(np.asarray(x_test))[:, 1]
    return pd.DataFrame({"p_treated": p["treated"], "p_control": p["control"],
                         "uplift": p["treated"] - p["control"]})


def qini_curve(outcome, treated, score, weights=None) -> np.ndarray:
    """The Qini curve: incremental buyers among the treated in the top k, k = 0..n.

    Q(k) = Y_t(k) - Y_c(k) x N_t(k) / N_c(k), where, among the top k rows by ``score``, N_t and
    N_c count treated and control rows and Y_t and Y_c their buyers (Q = Y_t(k) while
    N_c(k) = 0). ``weights`` (per row, or one row per bootstrap resample) count rows repeatedly.
    """
    y = np.asarray(outcome, dtype=float)
    t = np.asarray(treated, dtype=float)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=float)
    n_t, n_c, y_t, y_c = cumulative(score, w * t, w * (1 - t), w * y * t, w * y * (1 - t))
    ratio = np.divide(n_t, n_c, out=np.zeros_like(n_t), where=n_c > 0)
    return y_t - y_c * ratio


def qini_coefficient(curve) -> np.ndarray:
    """Area between a Qini curve and random targeting, per row of the population.

    With x = k / n and q = Q(k) / n, the coefficient is the trapezoid integral of
    q(x) - x q(1) over x in [0, 1]: 0 for random targeting, positive when the high scores hold
    the users the contact wins over. (AUUC, the area under q itself, is ``qini_auuc``.)
    """
    curve = np.asarray(curve, dtype=float)
    n = curve.shape[-1] - 1
    x = np.arange(n + 1) / n
    q = curve / n
    return np.trapezoid(q - x * q[..., -1:], x, axis=-1)


def qini_auuc(curve) -> np.ndarray:
    """Area under the Qini curve, q = Q(k) / n against x = k / n."""
    curve = np.asarray(curve, dtype=float)
    n = curve.shape[-1] - 1
    return np.trapezoid(curve / n, np.arange(n + 1) / n, axis=-1)
