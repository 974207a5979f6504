"""Checks of 00_rnn_lstm_primer: a GRU written from its equations, how far back a gradient
reaches, and why the forget gate decides how long an LSTM remembers."""

from __future__ import annotations

import numpy as np

from utils.report.exercises import one_of


def gru_matches_keras(answer, x, units):
    """``answer`` is gru_forward(x, kernel, recurrent_kernel, bias): its hidden states must match
    a Keras GRU (reset_after=True, gates z, r, h) of ``units`` units on the notebook's batch ``x``,
    with the same weights and a random, non-zero bias so that every bias term counts."""
    import keras  # imported here: only this check needs it

    layer = keras.layers.GRU(units, return_sequences=True)
    layer.build(x.shape)
    kernel, recurrent_kernel, bias = layer.get_weights()
    bias = np.random.default_rng(0).normal(size=bias.shape).astype("float32")
    layer.set_weights([kernel, recurrent_kernel, bias])
    expected = np.asarray(layer(x), dtype="float64")
    found = np.asarray(answer(x.astype("float64"), kernel, recurrent_kernel, bias), dtype="float64")
    if found.shape != expected.shape:
        return False, (f"gru_forward returned an array of shape {found.shape}; the hidden states of every "
                       f"step have shape {expected.shape} (sequences, time steps, units).")
    diff = float(np.max(np.abs(found - expected)))
    if diff < 1e-5:
        return True, f"your GRU matches Keras' GRU at every step (largest difference {diff:.1e})."
    first = int(np.argmax(np.abs(found - expected).max(axis=(0, 2)) > 1e-5))
    return False, (f"largest difference from Keras' GRU {diff:.2e}, first at time step {first}. Check the "
                   "block order (z, r, h), that the reset gate multiplies the recurrent term together with "
                   "its bias (row 1 of bias), and that h_t = z * h_prev + (1 - z) * candidate.")


def steps_below(answer, curves, threshold):
    """For every curve of relative gradient norms (one per step, the last step's = 1), the number
    of steps back k at which it first drops below ``threshold``; None where it never does."""
    expected = {}
    for label, norms in curves.items():
        below = np.flatnonzero(np.asarray(norms)[::-1] < threshold)
        expected[label] = int(below[0]) if len(below) else None
    found = dict(answer)
    wrong = []
    for label, k in expected.items():
        if label not in found:
            wrong.append(f"{label!r} is missing from your dict")
            continue
        value = found[label]
        value = int(value) if isinstance(value, (int, np.integer)) else value
        if value != k:
            wrong.append(f"{label}: {value!r} is not it"
                         + ("" if k is None else " (count k from 0 at the last step)"))
    if wrong:
        return False, "; ".join(wrong) + f". Curves that stay above {threshold:g} answer None."
    said = ", ".join(f"{label}: {'never' if k is None else f'{k} steps back'}"
                     for label, k in expected.items())
    return True, f"the gradient drops below {threshold:g} at {said}."


FORGET_GATE = {
    "a": "Right: the cell is carried on by c_t = f_t * c_(t-1) + i_t * c~_t, so the gradient back through "
         "the cell is a product of forget gates; a forget bias that keeps f_t near one keeps that product "
         "near one. The input gate only decides how much is written at one step.",
    "b": "Not so: the input gate scales what is written at one step; it never multiplies the path from "
         "older cells, so letting more in says nothing about how long old content lasts.",
    "c": "No: the four blocks i, f, c~ and o have the same shape (units columns each of kernel, "
         "recurrent_kernel and bias); the difference is where each block acts, not its size.",
}


def forget_gate(answer, relative_at_lag, lag):
    """A choice: why the forget-gate bias, not the input-gate bias, sets how long an LSTM remembers
    (a); the message quotes the gradients this run measured ``lag`` steps back."""
    passed, message = one_of(answer, FORGET_GATE, "a", "this question")
    lstm = {label: value for label, value in relative_at_lag.items() if label.startswith("LSTM")}
    if passed and lstm:
        message += (f" In this run, {lag} steps back: "
                    + ", ".join(f"{label} {value:.1e}" for label, value in lstm.items()) + ".")
    return passed, message


CHECKS = {"00.1": gru_matches_keras, "00.2": steps_below, "00.3": forget_gate}
