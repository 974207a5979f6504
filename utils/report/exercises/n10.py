"""Checks of notebook 10 (category trends): raw-count cross-correlation, looser trend calls, a
forecaster of your own."""

from __future__ import annotations

import numpy as np
import pandas as pd

from utils.report.exercises import close, same_integer
from utils.tasks import forecast as fc


def raw_count_peak(answer, mentions, interest, max_lag):
    """10.1: the lag (days) where the mean over categories of corr(raw mentions today, raw interest
    k days later) peaks, k from -max_lag to max_lag."""
    def mean_curve(leader, follower):
        return pd.DataFrame({c: fc.lagged_xcorr(leader[c], follower[c], max_lag)
                             for c in follower.columns}).mean(axis=1)

    raw = mean_curve(mentions, interest)
    logs = mean_curve(*(np.log(fc.shares(frame, pseudo=0.5)) for frame in (mentions, interest)))
    expected = int(raw.idxmax())
    passed, message = same_integer(answer, expected, "the peak lag of the raw-count curve (days)")
    if passed:
        stands, stands_logs = raw.max() - raw.median(), logs.max() - logs.median()
        message += (f" Raw counts: peak {raw.max():.2f}, {stands:.2f} above the curve's median; log "
                    f"shares: peak at {int(logs.idxmax())} days, {logs.max():.2f}, {stands_logs:.2f} above "
                    "its median. "
                    + ("The log-share peak stands out more: what all categories share (the weekday rhythm, "
                       "shop-wide busy days) moves raw counts together at every lag, and shares remove it."
                       if stands_logs > stands else
                       "Here the raw-count peak stands out as much as the log-share one."))
    return passed, message


def looser_calls(answer, recent):
    """10.2: how many categories an 80% interval on the slope of the weekly share calls rising or
    falling (``fc.slope_ci(recent, level=0.8)``)."""
    loose, strict = fc.slope_ci(recent, level=0.8), fc.slope_ci(recent)
    expected = int((loose["rising"] | loose["falling"]).sum())
    passed, message = same_integer(answer, expected, "categories called rising or falling at 80%")
    if passed:
        extra = expected - int((strict["rising"] | strict["falling"]).sum())
        message += (f" That is {extra} more than at 95%. " if extra else " The same count as at 95%. ")
        message += "At 80%, a category whose share does not move at all is still called one time in five."
    return passed, message


def ewm_forecaster(answer, units, horizon, origins):
    """10.3: the mean share error (percentage points), over the notebook's origins, of the
    forecaster that repeats each category's exponentially weighted mean of daily units (half-life
    7 days, pandas ``ewm(halflife=7).mean()``) over the horizon."""
    def ewm_mean(history, horizon):
        level = history.ewm(halflife=7).mean().iloc[-1].to_numpy(float)
        return np.repeat(level[None, :], horizon, axis=0)

    methods = {"weighted mean": ewm_mean, "last week": lambda h, n: fc.moving_average(h, n, window=7),
               "moving average": lambda h, n: fc.moving_average(h, n, window=28)}
    error = fc.share_errors(fc.backtest(units, methods, horizon, origins, progress=False))
    mae = error.groupby("method").mean()
    passed, message = close(answer, mae["weighted mean"], 0.005,
                            "the mean share error of the weighted mean (pp)")
    if passed:
        message += (f" Last week: {mae['last week']:.2f} pp; four-week mean: {mae['moving average']:.2f} pp. "
                    "A half-life of a week sits between the two: recent days count most, older ones "
                    "still smooth the noise.")
    return passed, message


CHECKS = {"10.1": raw_count_peak, "10.2": looser_calls, "10.3": ewm_forecaster}
