"""Demand forecasting and category trends (notebooks 09 and 10).

A series here is the number of units bought per day: one purchase event is one unit (the
REES46 schema has no quantity column), one column per category or product, and days without a
purchase hold 0. Every forecaster has the signature ``f(history, horizon) -> array (horizon,
n_series)``, where ``history`` is a DataFrame (days x series) ending the day before the forecast
origin. The rolling-origin backtest passes only that slice, so no forecaster can see the future.
"""

from __future__ import annotations

import time
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from utils.core import config
from utils.core.config import one_openmp_thread
from utils.data.schema import require_columns

SEASON = 7  # shop demand repeats weekly


# --- series ---------------------------------------------------------------------------------


def _category_of(products: pd.DataFrame) -> pd.Series:
    """Top-level category per product row: ``top`` (simulated catalogue), else the first part of
    category_code, else "unknown"."""
    if "top" in products:
        category = products["top"].astype("str")
    else:
        require_columns(products, ["category_code"], "products", "Give data/interim/products.parquet.")
        category = products["category_code"].astype("str").str.split(".").str[0]
    return category.fillna("unknown")


def with_category(events: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    """The events with a ``category`` column: the top-level category of each event's product."""
    require_columns(products, ["product_id"], "products", "Give data/interim/products.parquet.")
    lookup = pd.Series(_category_of(products).to_numpy(), index=products["product_id"].to_numpy())
    lookup = lookup[~lookup.index.duplicated()]
    category = events["product_id"].map(lookup).fillna("unknown").astype("str")
    return events.assign(category=category)


def _days(times: pd.Series) -> pd.Series:
    times = pd.to_datetime(times)
    if times.dt.tz is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.floor("D").astype("datetime64[ns]")


def _day_index(start, end) -> pd.DatetimeIndex:
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="D", name="date").as_unit("ns")


def daily_units(events: pd.DataFrame, by: str = "category", start=None, end=None,
                event_types=("purchase",)) -> pd.DataFrame:
    """Units bought per day (rows) and value of column ``by`` (columns), missing days filled with 0.

    The days run from ``start`` to ``end`` (default: the first and last day of any event, so
    quiet days at either end count as zero demand). Other ``event_types`` count other events
    instead, e.g. ("view", "cart", "purchase") for interest in a product.
    """
    fix = ("Add it with forecast.with_category(events, products)." if by == "category" else
           "Give events in the REES46 schema (data/interim/clean_events.parquet).")
    require_columns(events, ["event_time", "event_type", by], "events", fix)
    day = _days(events["event_time"])
    index = _day_index(day.min() if start is None else start, day.max() if end is None else end)
    bought = events["event_type"].astype("str").isin(event_types).to_numpy()
    key = events[by]
    if isinstance(key.dtype, pd.CategoricalDtype):
        key = key.astype("str")
    counts = (pd.DataFrame({"date": day[bought], by: key[bought]})
              .groupby(["date", by]).size().unstack(fill_value=0))
    return counts.reindex(index, fill_value=0).astype(float).rename_axis(columns=by)


def daily_mentions(social: pd.DataFrame, products: pd.DataFrame, index: pd.DatetimeIndex) -> pd.DataFrame:
    """Social-media mentions per day and top-level category (rows with level == "category")."""
    require_columns(social, ["date", "level", "name", "mentions"], "social",
                    "Give data/interim/social.parquet (the collection step writes it for the "
                    "simulated source).")
    rows = social[social["level"].astype("str") == "category"]
    codes = products.assign(category=_category_of(products)).dropna(subset=["category_code"])
    lookup = codes.drop_duplicates("category_code").set_index("category_code")["category"]
    name = rows["name"].astype("str")
    category = name.map(lookup).fillna(name.str.split(".").str[0])
    mentions = (pd.DataFrame({"date": _days(rows["date"]), "category": category,
                              "mentions": rows["mentions"].to_numpy(float)})
                .groupby(["date", "category"])["mentions"].sum().unstack(fill_value=0))
    return mentions.reindex(index, fill_value=0.0)


def to_weekly(daily: pd.DataFrame) -> pd.DataFrame:
    """Sums over complete 7-day weeks that end on the last day (a partial first week is dropped);
    the index is each week's first day."""
    n_weeks = len(daily) // 7
    if n_weeks == 0:
        raise ValueError(f"{len(daily)} days do not make one complete week")
    tail = daily.iloc[len(daily) - 7 * n_weeks:]
    sums = tail.to_numpy(float).reshape(n_weeks, 7, -1).sum(axis=1)
    return pd.DataFrame(sums, index=tail.index[::7].rename("week"), columns=daily.columns)


def shares(frame: pd.DataFrame, pseudo: float = 0.0) -> pd.DataFrame:
    """Each column's share of the row total, (x + pseudo) / sum(x + pseudo); a row with no units
    at all gets equal shares (nothing says otherwise)."""
    values = frame.to_numpy(float) + pseudo
    total = values.sum(axis=1, keepdims=True)
    out = np.divide(values, total, out=np.full_like(values, 1 / values.shape[1]), where=total > 0)
    return pd.DataFrame(out, index=frame.index, columns=frame.columns)


# --- metrics --------------------------------------------------------------------------------


def _as_2d(values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[:, None] if array.ndim == 1 else array


def seasonal_naive_mae(history, season: int = SEASON) -> np.ndarray:
    """In-sample MAE of the seasonal naive forecast, per column: mean_t |y_t - y_{t-m}|, t = m..n-1."""
    values = _as_2d(history)
    if len(values) <= season:
        raise ValueError(f"the history has {len(values)} days; the seasonal naive scale needs more "
                         f"than one season ({season} days)")
    return np.abs(values[season:] - values[:-season]).mean(axis=0)


def mase(actual, forecast, history, season: int = SEASON):
    """MASE = mean_t |A_t - F_t| / seasonal_naive_mae(history).

    Below 1: better than the weekly seasonal naive forecast was in-sample. NaN where the scale is
    0 (a history that repeats exactly every week leaves nothing to scale by).
    """
    mae = np.abs(_as_2d(actual) - _as_2d(forecast)).mean(axis=0)
    scale = seasonal_naive_mae(history, season)
    value = np.divide(mae, scale, out=np.full_like(mae, np.nan), where=scale > 0)
    return float(value[0]) if np.ndim(actual) == 1 else value


def _smape_terms(actual, forecast) -> np.ndarray:
    a, f = np.asarray(actual, float), np.asarray(forecast, float)
    denominator = np.abs(a) + np.abs(f)
    # 0/0 (no sales forecast, no sales happened) is a perfect forecast: 0, not NaN
    return np.divide(200 * np.abs(f - a), denominator, out=np.zeros_like(denominator),
                     where=denominator > 0)


def smape(actual, forecast) -> float:
    """sMAPE (%) = 100/n * sum_t 2|F_t - A_t| / (|A_t| + |F_t|), a term being 0 when A_t = F_t = 0;
    it runs from 0 to 200."""
    return float(_smape_terms(actual, forecast).mean())


def bias(actual, forecast) -> float:
    """Mean error (1/n) sum_t (F_t - A_t) in units: above 0 the forecast is too high (overstock)."""
    return float(np.mean(np.asarray(forecast, float) - np.asarray(actual, float)))


# --- baselines ------------------------------------------------------------------------------


def seasonal_naive(history, horizon: int, season: int = SEASON) -> np.ndarray:
    """Repeat the last season: F_{n+h} = y_{n+h-m*ceil(h/m)}."""
    last = _as_2d(history)[-season:]
    return np.concatenate([last] * -(-horizon // season))[:horizon]


def moving_average(history, horizon: int, window: int = SEASON) -> np.ndarray:
    """The mean of the last ``window`` days, flat over the horizon (window 7: last week's level)."""
    values = _as_2d(history)
    return np.repeat(values[-window:].mean(axis=0, keepdims=True), horizon, axis=0)


def linear_trend(history, horizon: int, window: int = 28) -> np.ndarray:
    """A least-squares line through the last ``window`` days of each series, extrapolated and
    clipped at 0 (use a multiple of 7 days, so the weekly pattern does not tilt the line)."""
    values = _as_2d(history)[-window:]
    slope, intercept = np.polyfit(np.arange(len(values)), values, 1)
    future = np.arange(len(values), len(values) + horizon)[:, None]
    return np.clip(intercept + slope * future, 0, None)


def holt_winters(history, horizon: int, season: int = SEASON) -> np.ndarray:
    """Exponential smoothing with an additive weekly season (statsmodels ExponentialSmoothing,
    Holt-Winters without a trend: level + season), one model per series. A series shorter than
    two seasons, or constant, gets the seasonal naive forecast instead."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    values = _as_2d(history)
    out = seasonal_naive(values, horizon, season)
    if len(values) < 2 * season:
        return out
    for j in np.flatnonzero(np.ptp(values, axis=0) > 0):  # one fit per series
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on short, sparse series
            fit = ExponentialSmoothing(values[:, j], seasonal="add", seasonal_periods=season,
                                       initialization_method="estimated").fit(use_brute=False)
        out[:, j] = fit.forecast(horizon)
    return np.clip(out, 0, None)


# --- windows, gradient boosting and the LSTM ------------------------------------------------


def make_windows(values, lookback: int, horizon: int, features=None) -> tuple[np.ndarray, np.ndarray]:
    """Every (input, target) pair of a (days, series) array, sliding one day at a time.

    Returns X (n, lookback, 1 + k) and Y (n, horizon), n = (days - lookback - horizon + 1) *
    series, ordered window-major (row w * series + s). ``features`` (days, series, k), or
    (days, k) shared by all series, are extra inputs on the same days as the values.
    """
    values = _as_2d(values)
    days, n_series = values.shape
    width = lookback + horizon
    if days < width:
        raise ValueError(f"{days} days cannot hold one window of lookback {lookback} + horizon "
                         f"{horizon} days; give more history or lower lookback/horizon")
    windows = sliding_window_view(values, width, axis=0)  # (n_windows, series, width)
    n = windows.shape[0] * n_series
    x = windows[..., :lookback].reshape(n, lookback)[..., None]
    y = windows[..., lookback:].reshape(n, horizon)
    if features is not None:
        extra = np.asarray(features, float)
        if extra.ndim == 2:
            extra = np.broadcast_to(extra[:, None, :], (days, n_series, extra.shape[1]))
        extra = sliding_window_view(extra, lookback, axis=0)[: len(windows)]  # (n, series, k, lookback)
        x = np.concatenate([x, extra.transpose(0, 1, 3, 2).reshape(-1, lookback, extra.shape[2])], axis=2)
    return x.astype(np.float32), y.astype(np.float32)


def _scale(values: np.ndarray) -> np.ndarray:
    """Per-series mean, so that series of different sizes can share one model (1 for all-zero)."""
    mean = np.abs(values).mean(axis=0)
    return np.where(mean > 0, mean, 1.0)


def _weekday_features(index: pd.DatetimeIndex) -> np.ndarray:
    angle = 2 * np.pi * index.day_of_week.to_numpy() / 7
    return np.column_stack([np.sin(angle), np.cos(angle)])


def gbm_forecaster(n_lags: int = 28, max_iter: int = 100, seed: int = 0, loss: str = "absolute_error"):
    """Gradient boosting on lags (scikit-learn HistGradientBoostingRegressor), "direct" strategy:
    one model for all series and steps, whose inputs are the last ``n_lags`` values (each series
    divided by its mean), the step h and the target day's weekday; the target is the value h days
    after the window. The absolute error loss aims at the median, which one-day spikes such as
    Black Friday cannot drag up (squared error aims at the mean and can)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    def rows(lags: np.ndarray, first_weekday: np.ndarray, horizon: int) -> np.ndarray:
        steps = np.tile(np.arange(horizon), len(lags))
        return np.column_stack([np.repeat(lags, horizon, axis=0), steps,
                                (np.repeat(first_weekday, horizon) + steps) % 7])

    def forecast(history: pd.DataFrame, horizon: int) -> np.ndarray:
        values = history.to_numpy(float)
        scale = _scale(values)
        x, y = make_windows(values / scale, n_lags, horizon)
        weekday = history.index.day_of_week.to_numpy()
        n_windows = len(x) // values.shape[1]
        first = np.repeat(weekday[n_lags:n_lags + n_windows], values.shape[1])
        model = HistGradientBoostingRegressor(loss=loss, max_iter=max_iter, early_stopping=False,
                                              random_state=seed, categorical_features=[n_lags + 1])
        with one_openmp_thread():  # tiny data: competing OpenMP threads cost more than they give
            model.fit(rows(x[..., 0], first, horizon), y.ravel())
        last = (values[-n_lags:] / scale).T
        next_weekday = np.full(len(last), (weekday[-1] + 1) % 7)
        with one_openmp_thread():
            pred = model.predict(rows(last, next_weekday, horizon)).reshape(len(last), horizon).T
        return np.clip(pred * scale, 0, None)

    return forecast


def lstm_forecaster(lookback: int = 28, units: int = 32, epochs: int = 30, batch_size: int = 64,
                    learning_rate: float = 0.005, seed: int = 0, exog: pd.DataFrame | None = None,
                    loss: str = "mae", build_model=None):
    """A small LSTM trained afresh at each origin on every window of every series (pooled).

    The model is ``build_model(lookback, n_features, horizon, units=units)`` (None: the default
    ``utils.models.forecaster.build_forecaster``, an LSTM whose last state feeds a Dense layer
    that outputs all ``horizon`` days at once). Inputs per day: the value divided by the series'
    mean, the weekday (sine, cosine) and, with ``exog`` (a days x series frame such as mentions,
    same columns), that series' exogenous value divided by its mean. The default loss, mean
    absolute error, aims at the median, as the lag model's does ("mse" aims at the mean).
    ``forecast.losses`` keeps each origin's training-loss curve and ``forecast.model`` the last
    model trained.
    """
    built = {}

    def model_for(n_features: int, horizon: int):
        import keras  # here, not at the top: the baselines of this module need no TensorFlow

        from utils.models.forecaster import build_forecaster

        if (n_features, horizon) not in built:
            built.clear()
            config.seed_everything(seed)
            model = (build_model or build_forecaster)(lookback, n_features, horizon, units=units)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
            model.optimizer.build(model.trainable_variables)
            built[n_features, horizon] = (model, model.get_weights(),
                                          [v.numpy() for v in model.optimizer.variables])
        model, weights, optimizer_state = built[n_features, horizon]
        # restart from the same initial weights and optimizer state at every origin: the same as
        # a new model, without tracing a new training step each time (the slow part on a CPU)
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, optimizer_state, strict=True):
            variable.assign(value)
        return model

    def forecast(history: pd.DataFrame, horizon: int) -> np.ndarray:
        values = history.to_numpy(float)
        scale = _scale(values)
        days, n_series = values.shape
        features = [np.broadcast_to(_weekday_features(history.index)[:, None, :], (days, n_series, 2))]
        if exog is not None:
            extra = exog.reindex(index=history.index, columns=history.columns).fillna(0).to_numpy(float)
            features.append((extra / _scale(extra))[..., None])
        features = np.concatenate(features, axis=2)
        x, y = make_windows(values / scale, lookback, horizon, features)
        model = model_for(x.shape[2], horizon)
        config.seed_everything(seed)
        fit = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
        forecast.losses.append(fit.history["loss"])
        forecast.model = model
        last, _ = make_windows(values[-lookback:] / scale, lookback, 0, features[-lookback:])
        pred = np.asarray(model(last, training=False)).T  # (horizon, series)
        return np.clip(pred * scale, 0, None)

    forecast.losses, forecast.model = [], None
    return forecast


# --- rolling-origin backtest ----------------------------------------------------------------


def rolling_origins(n_days: int, horizon: int, n_origins: int, step: int, min_history: int) -> list[int]:
    """Forecast origins (index of the first forecast day), oldest first, ``step`` days apart; the
    last forecast ends on the last day."""
    last = n_days - horizon
    origins = [last - step * k for k in reversed(range(n_origins))]
    if origins[0] < min_history:
        raise ValueError(f"{n_days} days leave only {origins[0]} days of history before the first of "
                         f"{n_origins} origins ({step} days apart, horizon {horizon}), fewer than the "
                         f"{min_history} needed; lower n_origins, origin_step, horizon or lookback")
    return origins


def _long(series: pd.DataFrame, origin: int, horizon: int, forecast, actual, scale) -> pd.DataFrame:
    n_series = series.shape[1]
    dates = pd.date_range(series.index[origin - 1], periods=horizon + 1, freq="D")[1:]
    return pd.DataFrame({
        "origin": dates[0], "date": np.repeat(dates, n_series),
        "step": np.repeat(np.arange(1, horizon + 1), n_series),
        "series": np.tile(series.columns.astype("str"), horizon),
        "actual": np.ravel(actual), "forecast": np.ravel(forecast), "scale": np.tile(scale, horizon)})


def backtest(series: pd.DataFrame, forecasters: dict, horizon: int, origins: list[int],
             season: int = SEASON, progress: bool = True) -> pd.DataFrame:
    """Forecast ``horizon`` days from each origin with each forecaster, seeing only the days before.

    Returns one row per (method, origin, day, series): actual, forecast and ``scale``, the
    series' in-sample seasonal naive MAE at that origin (the MASE denominator); ``.attrs
    ["seconds"]`` holds each method's total time.
    """
    from tqdm.auto import tqdm

    frames, seconds = [], dict.fromkeys(forecasters, 0.0)
    bar = tqdm(total=len(origins) * len(forecasters), desc="backtest", unit="fit", disable=not progress)
    for origin in origins:
        history = series.iloc[:origin].copy()  # all a forecaster ever sees
        actual = series.iloc[origin:origin + horizon].to_numpy(float)
        scale = seasonal_naive_mae(history, season)
        for name, forecaster in forecasters.items():
            started = time.perf_counter()
            forecast = np.asarray(forecaster(history, horizon), float)
            seconds[name] += time.perf_counter() - started
            if forecast.shape != actual.shape:
                raise ValueError(f"forecaster {name!r} returned shape {forecast.shape}; expected "
                                 f"(horizon, series) = {actual.shape}")
            frames.append(_long(series, origin, horizon, forecast, actual, scale).assign(method=name))
            bar.update()
    bar.close()
    results = pd.concat(frames, ignore_index=True)
    results.attrs["seconds"] = seconds
    return results


def forecast_ahead(series: pd.DataFrame, forecaster, horizon: int, season: int = SEASON) -> pd.DataFrame:
    """The forecast from the end of the data, in the backtest's long format (actual unknown: NaN)."""
    forecast = np.asarray(forecaster(series, horizon), float)
    unknown = np.full(forecast.shape, np.nan)
    return _long(series, len(series), horizon, forecast, unknown, seasonal_naive_mae(series, season))


def score(results: pd.DataFrame, by="method") -> pd.DataFrame:
    """MASE, sMAPE (%) and bias (units per day) of backtest rows, grouped by ``by``.

    MASE is the mean of |A - F| / scale over rows, i.e. the mean of each (series, origin)'s MASE;
    rows whose scale is 0 are left out of it.
    """
    error = results["forecast"] - results["actual"]
    frame = results.assign(scaled=error.abs() / results["scale"].where(results["scale"] > 0),
                           smape=_smape_terms(results["actual"], results["forecast"]), error=error)
    return frame.groupby(by, sort=False).agg(MASE=("scaled", "mean"), sMAPE=("smape", "mean"),
                                             bias=("error", "mean"))


def mase_by_forecast(results: pd.DataFrame) -> pd.DataFrame:
    """MASE of each forecast: rows (origin, series), one column per method; a row whose scale is 0
    (nothing to scale by) is left out. The column means are ``score``'s MASE."""
    scaled = (results["forecast"] - results["actual"]).abs() / results["scale"].where(results["scale"] > 0)
    table = scaled.groupby([results["origin"], results["series"], results["method"]], sort=False).mean()
    return table.unstack("method").dropna()


def bootstrap_means(table: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean of each column of ``table`` (rows: forecasts, e.g. (origin, series); columns: methods)
    with a percentile bootstrap 95% interval. Rows are resampled whole, so every method is scored on
    the same resamples. Forecasts from one origin share its luck, so the interval is a lower bound on
    the real uncertainty."""
    values = table.to_numpy(float)
    rows = np.random.default_rng(seed).integers(0, len(values), (n_boot, len(values)))
    means = values[rows].mean(axis=1)  # (n_boot, methods)
    low, high = np.percentile(means, [2.5, 97.5], axis=0)
    return pd.DataFrame({"value": values.mean(axis=0), "ci_low": low, "ci_high": high},
                        index=table.columns)


def paired_difference(table: pd.DataFrame, a: str, b: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean of column ``a`` minus column ``b`` over the same rows, with its percentile bootstrap 95%
    interval (as ``bootstrap_means``); an interval that contains 0 means the difference is inside
    the noise of this many forecasts."""
    difference = (table[a] - table[b]).to_frame("difference")
    row = bootstrap_means(difference, n_boot, seed).iloc[0]
    return {"difference": float(row["value"]), "ci_low": float(row["ci_low"]),
            "ci_high": float(row["ci_high"]), "n_forecasts": len(table)}


# --- intervals and stock --------------------------------------------------------------------


def _interval_scale(scale: pd.Series) -> np.ndarray:
    return np.where(scale > 0, scale, 1.0)  # 1 unit where the seasonal naive MAE is 0


def error_quantiles(results: pd.DataFrame, coverage: float = 0.9, by: str = "method") -> pd.DataFrame:
    """Quantiles (1 - c)/2 and (1 + c)/2 of the scaled backtest errors (A - F) / scale, per ``by``.

    Dividing by each series' scale lets big and small series share one set of quantiles.
    """
    scaled = (results["actual"] - results["forecast"]) / _interval_scale(results["scale"])
    q = scaled.groupby(results[by]).quantile([(1 - coverage) / 2, (1 + coverage) / 2]).unstack()
    return q.set_axis(["lower", "upper"], axis=1)


def add_intervals(frame: pd.DataFrame, quantiles: pd.DataFrame, by: str = "method") -> pd.DataFrame:
    """Prediction interval per row: forecast + q * scale, clipped at 0 (demand is never negative)."""
    q = quantiles.reindex(frame[by]).to_numpy()
    width = _interval_scale(frame["scale"])
    return frame.assign(lower=np.clip(frame["forecast"] + q[:, 0] * width, 0, None),
                        upper=np.clip(frame["forecast"] + q[:, 1] * width, 0, None))


def coverage(frame: pd.DataFrame, by: str = "method") -> pd.Series:
    """Share of rows whose actual value lies inside [lower, upper]."""
    inside = (frame["actual"] >= frame["lower"]) & (frame["actual"] <= frame["upper"])
    return inside.groupby(frame[by], sort=False).mean()


def lead_time_errors(results: pd.DataFrame, lead_time: int) -> pd.DataFrame:
    """Error of lead-time demand, sum of (A - F) over ``lead_time`` consecutive forecast days, for
    every start day of every (method, origin, series) forecast."""
    ordered = results.sort_values(["method", "origin", "series", "step"])
    horizon = int(ordered["step"].max())
    if lead_time > horizon:
        raise ValueError(f"lead_time {lead_time} is longer than the forecast horizon {horizon}")
    errors = (ordered["actual"] - ordered["forecast"]).to_numpy().reshape(-1, horizon)
    sums = sliding_window_view(errors, lead_time, axis=1).sum(axis=2)  # (forecasts, starts)
    keys = ordered.iloc[::horizon][["method", "origin", "series"]].reset_index(drop=True)
    out = keys.loc[keys.index.repeat(sums.shape[1])].reset_index(drop=True)
    return out.assign(start_step=np.tile(np.arange(1, sums.shape[1] + 1), len(keys)), error=sums.ravel())


def safety_stock(sigma, service_level: float):
    """SS = z * sigma_L, with z the standard normal quantile of the service level and sigma_L the
    standard deviation of the lead-time demand error (assumed normal)."""
    if not 0.5 <= service_level < 1:
        raise ValueError(f"service_level {service_level} must be in [0.5, 1), e.g. 0.95")
    return NormalDist().inv_cdf(service_level) * sigma


def reorder_points(forecast: pd.DataFrame, sigma: pd.Series, lead_time: int,
                   service_level: float) -> pd.DataFrame:
    """Reorder point = expected lead-time demand + safety stock, per series.

    ``forecast`` holds days (from tomorrow) x series; the expected lead-time demand is the sum of
    its first ``lead_time`` days; ``sigma`` is each series' lead-time demand error std.
    """
    if lead_time > len(forecast):
        raise ValueError(f"lead_time {lead_time} is longer than the {len(forecast)} forecast days")
    demand = forecast.iloc[:lead_time].sum()
    stock = safety_stock(sigma.reindex(demand.index), service_level)
    return pd.DataFrame({"lead_time_demand": demand, "safety_stock": stock, "reorder_point": demand + stock})


# --- category trends ------------------------------------------------------------------------


def share_errors(results: pd.DataFrame) -> pd.Series:
    """|forecast share - actual share| in percentage points, per (method, origin, series), where a
    share is the series' units over the whole horizon divided by all series' units."""
    totals = results.groupby(["method", "origin", "series"])[["actual", "forecast"]].sum()
    parts = totals / totals.groupby(level=["method", "origin"]).transform("sum")
    return (100 * (parts["forecast"] - parts["actual"]).abs()).rename("share_error_pp")


def lagged_xcorr(leader, follower, max_lag: int) -> pd.Series:
    """Pearson correlation of leader_t and follower_{t+k} for k = -max_lag..max_lag.

    A peak at k > 0 means the leader moves first: the follower repeats it k steps later.
    """
    x, y = np.asarray(leader, float), np.asarray(follower, float)
    if len(x) != len(y) or len(x) - max_lag < 3:
        raise ValueError(f"need two series of the same length, longer than max_lag + 2 = {max_lag + 2}")
    n = len(x)
    corr = {}
    for k in range(-max_lag, max_lag + 1):  # one correlation per lag
        a, b = (x[:n - k], y[k:]) if k >= 0 else (x[-k:], y[:n + k])
        with np.errstate(invalid="ignore", divide="ignore"):
            corr[k] = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else np.nan
    return pd.Series(corr, name="correlation").rename_axis("lag")


def slope_ci(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Least-squares slope of each column per row step, with a t interval:
    b = S_ty / S_tt, se = sqrt(SSR / (n - 2) / S_tt), b +- t_{(1 + level)/2, n-2} * se.

    The interval assumes independent residuals; week-to-week persistence makes it too narrow.
    """
    from scipy import stats

    y = frame.to_numpy(float)
    n = len(y)
    if n < 3:
        raise ValueError(f"a slope interval needs at least 3 rows, got {n}")
    t = np.arange(n) - (n - 1) / 2
    s_tt = t @ t
    slope = t @ (y - y.mean(axis=0)) / s_tt
    residual = y - y.mean(axis=0) - np.outer(t, slope)
    se = np.sqrt((residual ** 2).sum(axis=0) / (n - 2) / s_tt)
    half = stats.t.ppf((1 + level) / 2, n - 2) * se
    return pd.DataFrame({"slope": slope, "ci_low": slope - half, "ci_high": slope + half,
                         "rising": slope - half > 0, "falling": slope + half < 0}, index=frame.columns)
