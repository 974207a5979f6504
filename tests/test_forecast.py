"""Demand forecasting and category trends: series building, metric formulas on hand cases, the
baselines, windowing, the LSTM notebooks 09 and 10 show being the one that is trained, the
backtest's view of the past only, intervals, stock and trend tools."""

import inspect

import numpy as np
import pandas as pd
import pytest

from tests.helpers import keyword_of_calls, notebook_definition
from utils.data.schema import ValidationError
from utils.models import forecaster
from utils.tasks import forecast as fc

DAYS = pd.date_range("2020-01-06", periods=35, freq="D", name="date")  # starts on a Monday


def frame(values, columns=("a",)):
    values = np.asarray(values, float)
    values = values[:, None] if values.ndim == 1 else values
    return pd.DataFrame(values, index=DAYS[: len(values)], columns=list(columns))


# --- series ---------------------------------------------------------------------------------


def events_table():
    return pd.DataFrame({
        "event_time": pd.to_datetime(["2020-01-01 10:00", "2020-01-01 23:59", "2020-01-03 08:00",
                                      "2020-01-03 09:00", "2020-01-04 12:00"], utc=True),
        "event_type": pd.Categorical(["purchase", "purchase", "view", "purchase", "cart"]),
        "product_id": [1, 2, 1, 3, 2],
    })


def test_daily_units_counts_purchases_and_fills_missing_days_with_zero():
    products = pd.DataFrame({"product_id": [1, 2, 3], "top": ["hair", "hair", "tools"]})
    units = fc.daily_units(fc.with_category(events_table(), products))
    assert list(units.index.strftime("%m-%d")) == ["01-01", "01-02", "01-03", "01-04"]
    assert units["hair"].tolist() == [2, 0, 0, 0]  # the view and the cart are not units
    assert units["tools"].tolist() == [0, 0, 1, 0]


def test_category_falls_back_to_the_code_then_unknown():
    products = pd.DataFrame({"product_id": [1, 2], "category_code": ["hair.shampoo", None]})
    events = fc.with_category(events_table(), products)
    assert events["category"].tolist() == ["hair", "unknown", "hair", "unknown", "unknown"]


def test_missing_column_error_names_the_column_and_the_fix():
    with pytest.raises(ValidationError, match=r"no column\(s\) \['category'\].*with_category"):
        fc.daily_units(events_table(), by="category")
    with pytest.raises(ValidationError, match=r"products has no column\(s\) \['product_id'\]"):
        fc.with_category(events_table(), pd.DataFrame({"top": ["hair"]}))


def test_weekly_sums_complete_weeks_ending_on_the_last_day():
    weekly = fc.to_weekly(frame(np.arange(10)))
    assert len(weekly) == 1 and weekly.index[0] == DAYS[3]
    assert weekly["a"].iloc[0] == sum(range(3, 10))


def test_shares_sum_to_one_and_an_empty_row_is_uniform():
    out = fc.shares(pd.DataFrame({"x": [1.0, 0.0], "y": [3.0, 0.0]}))
    assert out.iloc[0].tolist() == [0.25, 0.75]
    assert out.iloc[1].tolist() == [0.5, 0.5]


# --- metrics --------------------------------------------------------------------------------


def test_mase_by_hand():
    history = [1, 2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6, 7, 8]  # every week-on-week change is 1
    assert fc.seasonal_naive_mae(history)[0] == 1.0
    assert fc.mase([1, 2], [2, 4], history) == pytest.approx(1.5)


def test_mase_is_nan_when_the_history_repeats_exactly():
    assert np.isnan(fc.mase([1.0], [2.0], [1, 2, 3, 4, 5, 6, 7] * 2))


def test_smape_by_hand_with_zero_over_zero_as_a_perfect_forecast():
    # terms: 0/0 -> 0; 2*5/15 -> 66.67 %; 2*2/2 -> 200 %
    assert fc.smape([0, 10, 0], [0, 5, 2]) == pytest.approx((0 + 200 / 3 + 200) / 3)
    assert fc.smape([0, 0], [0, 0]) == 0.0


def test_bias_is_forecast_minus_actual():
    assert fc.bias([0, 10, 0], [0, 5, 2]) == pytest.approx(-1.0)


# --- baselines ------------------------------------------------------------------------------


def test_seasonal_naive_is_exact_on_a_periodic_series():
    week = np.array([5, 1, 2, 3, 4, 9, 8], float)
    series = np.tile(week, 5)
    forecast = fc.seasonal_naive(series[:24], 10)
    np.testing.assert_array_equal(forecast[:, 0], series[24:34])


def test_holt_winters_follows_a_clean_weekly_pattern():
    series = np.tile([5, 1, 2, 3, 4, 9, 8], 6).astype(float)
    forecast = fc.holt_winters(series[:35], 7)
    np.testing.assert_allclose(forecast[:, 0], series[35:42], atol=0.5)


def test_moving_average_and_linear_trend():
    ramp = np.arange(14, dtype=float)
    assert fc.moving_average(ramp, 3, window=7)[:, 0].tolist() == [10.0] * 3
    np.testing.assert_allclose(fc.linear_trend(ramp, 3, window=14)[:, 0], [14, 15, 16])
    assert fc.linear_trend(-ramp, 2, window=14).min() == 0  # demand is clipped at 0


def test_gradient_boosting_returns_one_non_negative_value_per_day_and_series():
    rng = np.random.default_rng(0)
    history = frame(rng.poisson(3, (35, 2)), columns=("a", "b"))
    forecast = fc.gbm_forecaster(n_lags=7, max_iter=20)(history, 5)
    assert forecast.shape == (5, 2) and (forecast >= 0).all()


# --- windows and the LSTM -------------------------------------------------------------------


def test_windows_slide_one_day_window_major():
    values = np.column_stack([np.arange(10), 100 + np.arange(10)])
    x, y = fc.make_windows(values, lookback=3, horizon=2)
    assert x.shape == (2 * 6, 3, 1) and y.shape == (12, 2)
    assert x[0, :, 0].tolist() == [0, 1, 2] and y[0].tolist() == [3, 4]
    assert x[1, :, 0].tolist() == [100, 101, 102]  # row 1: same window, second series
    assert x[2, :, 0].tolist() == [1, 2, 3] and y[2].tolist() == [4, 5]


def test_windows_carry_features_on_the_input_days():
    values = np.arange(6)[:, None]
    features = np.arange(6)[:, None] * 10  # shared by all series
    x, _ = fc.make_windows(values, lookback=2, horizon=1, features=features)
    assert x[1].tolist() == [[1, 10], [2, 20]]


def test_windows_need_enough_days():
    with pytest.raises(ValueError, match="lookback 5 \\+ horizon 3"):
        fc.make_windows(np.zeros(7), 5, 3)


@pytest.mark.slow
def test_lstm_forecaster_runs_and_is_reproducible():
    rng = np.random.default_rng(0)
    history = frame(rng.poisson(4, (35, 2)), columns=("a", "b"))
    mentions = frame(rng.poisson(20, (35, 2)), columns=("a", "b"))
    runs = [fc.lstm_forecaster(lookback=7, units=4, epochs=2, batch_size=8, exog=mentions)(history, 3)
            for _ in range(2)]
    assert runs[0].shape == (3, 2) and (runs[0] >= 0).all()
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-4)


# --- the LSTM notebooks 09 and 10 show is the LSTM that is trained -------------------------


FORECAST_NOTEBOOKS = ["09_demand_forecasting.ipynb", "10_category_trends.ipynb"]


@pytest.mark.parametrize("notebook", FORECAST_NOTEBOOKS)
def test_notebook_defines_the_library_forecaster(notebook):
    library = inspect.getsource(forecaster.build_forecaster).rstrip("\n")
    shown, first_line = notebook_definition(notebook, "build_forecaster")
    assert shown == library, (
        f"build_forecaster in notebooks/{notebook} differs from utils/models/forecaster.py; "
        "change both the same way")
    assert first_line.startswith("# the same function is in utils/models/forecaster.py")


@pytest.mark.parametrize("notebook", FORECAST_NOTEBOOKS)
def test_notebook_trains_its_lstms_with_its_builder(notebook):
    given = keyword_of_calls(notebook, "lstm_forecaster", "build_model")
    assert given and set(given) == {"build_forecaster"}, given


def test_lstm_forecaster_builds_its_model_with_the_builder_it_is_given():
    calls, built = [], []

    def recording_builder(lookback, n_features, horizon, **kwargs):
        calls.append((lookback, n_features, horizon, kwargs))
        built.append(forecaster.build_forecaster(lookback, n_features, horizon, **kwargs))
        return built[-1]

    history = frame(np.random.default_rng(0).poisson(4, (21, 2)), columns=("a", "b"))
    forecast = fc.lstm_forecaster(lookback=7, units=3, epochs=1, batch_size=8,
                                  build_model=recording_builder)
    for _ in range(2):  # a second origin reuses the model from its initial weights
        assert forecast(history, 3).shape == (3, 2)
    assert calls == [(7, 3, 3, {"units": 3})]  # 3 features: the value, weekday sine and cosine
    assert forecast.model is built[0] and len(forecast.losses) == 2


# --- backtest -------------------------------------------------------------------------------


def test_rolling_origins_end_on_the_last_day_and_refuse_short_histories():
    assert fc.rolling_origins(30, horizon=7, n_origins=3, step=5, min_history=10) == [13, 18, 23]
    with pytest.raises(ValueError, match="lower n_origins"):
        fc.rolling_origins(30, horizon=7, n_origins=5, step=7, min_history=10)


def test_backtest_forecasters_see_only_the_past():
    series = frame(np.arange(35.0))
    seen = []

    def spy(history, horizon):
        seen.append(history)
        return np.repeat(history.to_numpy()[-1:], horizon, axis=0)

    results = fc.backtest(series, {"spy": spy}, horizon=7, origins=[14, 21, 28], progress=False)
    for history, origin in zip(seen, [14, 21, 28], strict=True):
        assert len(history) == origin and history.index[-1] < series.index[origin]
    first = results[results["origin"] == series.index[14]]
    assert first["actual"].tolist() == list(range(14, 21))  # the future is only in the truth
    assert (first["forecast"] == 13).all()
    seen[0].iloc[:, :] = -1  # a forecaster that scribbles on its history cannot hurt the data
    assert series["a"].iloc[0] == 0


def test_score_matches_the_metric_functions():
    rng = np.random.default_rng(1)
    series = frame(rng.poisson(3, (35, 2)), columns=("a", "b"))
    naive = {"naive": lambda history, horizon: fc.seasonal_naive(history, horizon)}
    results = fc.backtest(series, naive, horizon=7, origins=[28], progress=False)
    table = fc.score(results).loc["naive"]
    forecast = fc.seasonal_naive(series.iloc[:28], 7)
    actual = series.iloc[28:].to_numpy()
    assert table["MASE"] == pytest.approx(fc.mase(actual, forecast, series.iloc[:28]).mean())
    assert table["sMAPE"] == pytest.approx(fc.smape(actual, forecast))
    assert table["bias"] == pytest.approx(fc.bias(actual, forecast))


def test_mase_by_forecast_averages_to_the_score_and_intervals_surround_it():
    rng = np.random.default_rng(5)
    series = frame(rng.poisson(5, (35, 3)), columns=("a", "b", "c"))
    methods = {"naive": fc.seasonal_naive, "mean": fc.moving_average}
    results = fc.backtest(series, methods, horizon=7, origins=[21, 28], progress=False)
    table = fc.mase_by_forecast(results)
    assert table.shape == (6, 2)  # (2 origins x 3 series) forecasts x 2 methods
    np.testing.assert_allclose(table.mean(), fc.score(results)["MASE"].reindex(table.columns))
    means = fc.bootstrap_means(table, n_boot=200)
    assert (means["ci_low"] <= means["value"]).all() and (means["value"] <= means["ci_high"]).all()
    same = fc.paired_difference(table, "naive", "naive", n_boot=50)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0
    assert same["n_forecasts"] == 6


# --- intervals and stock --------------------------------------------------------------------


def test_intervals_from_error_quantiles_cover_as_calibrated():
    rng = np.random.default_rng(2)
    n = 4000
    rows = pd.DataFrame({"method": "m", "forecast": 50.0, "scale": 2.0,
                         "actual": 50 + 2 * rng.normal(size=n)})
    q = fc.error_quantiles(rows.iloc[: n // 2], coverage=0.9)
    assert q.loc["m", "lower"] == pytest.approx(-1.645, abs=0.15)
    covered = fc.coverage(fc.add_intervals(rows.iloc[n // 2:], q)).loc["m"]
    assert covered == pytest.approx(0.9, abs=0.03)


def test_lead_time_errors_sum_consecutive_days():
    rows = pd.DataFrame({"method": "m", "origin": DAYS[0], "series": "a", "step": [1, 2, 3, 4],
                         "actual": [1.0, 2.0, 3.0, 4.0], "forecast": 0.0})
    errors = fc.lead_time_errors(rows, lead_time=2)
    assert errors["error"].tolist() == [3, 5, 7] and errors["start_step"].tolist() == [1, 2, 3]


def test_safety_stock_and_reorder_point_by_hand():
    # z(0.95) = 1.6449; SS = 1.6449 * 10; ROP = 5 days * 10 units + SS
    assert fc.safety_stock(10.0, 0.95) == pytest.approx(16.449, abs=1e-3)
    assert fc.safety_stock(10.0, 0.5) == pytest.approx(0.0)
    forecast = pd.DataFrame({"a": [10.0] * 7})
    table = fc.reorder_points(forecast, pd.Series({"a": 10.0}), lead_time=5, service_level=0.95)
    assert table.loc["a", "lead_time_demand"] == 50
    assert table.loc["a", "reorder_point"] == pytest.approx(66.449, abs=1e-3)
    with pytest.raises(ValueError, match="service_level"):
        fc.safety_stock(10.0, 95)


# --- category trends ------------------------------------------------------------------------


def test_cross_correlation_recovers_a_planted_lead():
    rng = np.random.default_rng(3)
    leader = rng.normal(size=300)
    follower = np.roll(leader, 5) + 0.3 * rng.normal(size=300)  # follower_t = leader_{t-5} + noise
    xcorr = fc.lagged_xcorr(leader, follower, max_lag=10)
    assert xcorr.idxmax() == 5 and xcorr.loc[5] > 0.9
    assert list(xcorr.index) == list(range(-10, 11))


def test_slope_interval_finds_a_rising_column():
    rng = np.random.default_rng(4)
    weeks = np.arange(12)
    table = pd.DataFrame({"up": 0.2 + 0.01 * weeks + 0.002 * rng.normal(size=12),
                          "flat": 0.3 + 0.01 * rng.normal(size=12)})
    trend = fc.slope_ci(table)
    assert trend.loc["up", "ci_low"] < 0.01 < trend.loc["up", "ci_high"]
    assert trend.loc["up", "rising"] and not trend.loc["flat", "rising"]


def test_share_errors_in_percentage_points():
    rows = pd.DataFrame({"method": "m", "origin": DAYS[0], "series": ["a", "b"],
                         "actual": [30.0, 70.0], "forecast": [50.0, 50.0]})
    errors = fc.share_errors(rows)
    assert errors.tolist() == pytest.approx([20.0, 20.0])
