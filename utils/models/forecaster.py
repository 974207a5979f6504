"""Keras model of the demand forecaster (notebooks 09 and 10): an LSTM reads a window of days and
a dense layer outputs every day of the horizon at once.

Notebooks 09 and 10 show the same ``build_forecaster`` in a code cell and pass it to
``utils.tasks.forecast.lstm_forecaster``, which compiles and trains it; a test keeps them
identical.
"""

from __future__ import annotations

import keras
from keras import layers


def build_forecaster(lookback, n_features, horizon, units=32):
    """Windows (batch, lookback days, n_features per day) -> the next ``horizon`` days of the
    series, in the scaled units of the input."""
    return keras.Sequential([
        keras.Input((lookback, n_features)),  # per day: units / series mean, weekday, ...
        layers.LSTM(units),  # its last state summarises the window
        layers.Dense(horizon),  # one output per day ahead: no forecast is fed back
    ], name="lstm_forecaster")
