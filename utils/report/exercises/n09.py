"""Checks of notebook 09 (demand forecasting): safety stock, forecast horizon, a forecaster of your own."""

from __future__ import annotations

import numpy as np

from utils.report.exercises import close
from utils.tasks import forecast as fc


def sqrt_rule(answer, results, method, lead_time):
    """09.1: the total safety stock with sigma_day * sqrt(L) over the total with sigma_L, both from
    ``method``'s backtest errors (the z of the service level cancels in the ratio)."""
    rows = results[results["method"] == method]
    sigma_day = (rows["actual"] - rows["forecast"]).groupby(rows["series"]).std()
    sigma_lead = fc.lead_time_errors(rows, lead_time).groupby("series")["error"].std()
    expected = float(sigma_day.sum() * np.sqrt(lead_time) / sigma_lead.sum())
    passed, message = close(answer, expected, 0.005, "sum of sigma_day * sqrt(L) over sum of sigma_L")
    if passed:
        message += (" Below 1: the sqrt(L) rule holds less stock, because the errors of consecutive days "
                    "have the same sign more often than chance (a busy week stays busy) and add up."
                    if expected < 1 else
                    " Above 1: the errors of consecutive days partly cancel over a lead time, so the "
                    "sqrt(L) rule holds more stock than the measured lead-time errors ask for.")
    return passed, message


def shorter_horizon(answer, results, horizon):
    """09.2: the method whose category MASE falls most when only the first ``horizon // 2`` days of
    each backtest forecast are scored (MASE over all days minus MASE over the first days)."""
    rows = results[results["level"] == "category"] if "level" in results else results
    whole = fc.score(rows)["MASE"]
    early = fc.score(rows[rows["step"] <= horizon // 2])["MASE"]
    gain = whole - early
    name = str(answer).strip()
    if name not in gain.index:
        return False, f"answer the name of a method, one of {', '.join(map(repr, gain.index))}."
    if gain[name] >= gain.max() - 1e-9:
        return True, (f"{name}: category MASE {whole[name]:.3f} over all {horizon} days, {early[name]:.3f} "
                      f"over the first {horizon // 2}, the largest gain ({gain[name]:+.3f}). A method "
                      "gains most when its errors grow fastest with the days ahead.")
    return False, (f"{name} gains {gain[name]:+.3f} (MASE over all days minus MASE over the first "
                   f"{horizon // 2}); another method gains more. Score both subsets with fc.score.")


def weekday_mean_forecaster(answer, series, horizon, origins):
    """09.3: the category MASE, over the notebook's origins, of the forecaster that repeats each
    weekday's mean over the last four weeks (fewer when the history is shorter)."""
    def weekday_mean(history, horizon):
        values = history.to_numpy(float)
        weeks = min(4, len(values) // 7)
        profile = values[len(values) - 7 * weeks:].reshape(weeks, 7, -1).mean(axis=0)
        return np.concatenate([profile] * -(-horizon // 7))[:horizon]

    methods = {"weekday mean": weekday_mean, "seasonal naive": fc.seasonal_naive}
    mase = fc.score(fc.backtest(series, methods, horizon, origins, progress=False))["MASE"]
    passed, message = close(answer, mase["weekday mean"], 0.001, "the category MASE of the weekday mean")
    if passed:
        message += (f" The seasonal naive forecast (one week only) scores {mase['seasonal naive']:.3f}: "
                    + ("averaging four weeks removes part of the noise of a single week."
                       if mase["weekday mean"] < mase["seasonal naive"] else
                       "here the older weeks add more stale information than they remove noise."))
    return passed, message


CHECKS = {"09.1": sqrt_rule, "09.2": shorter_horizon, "09.3": weekday_mean_forecaster}
