"""Why a model scores a session as a purchase: attributions, and checks that they mean something.

- ``split_at_events``: a purchase model of ``utils.models.sequence`` cut after its per-event
  vectors (the event type, category and brand embeddings concatenated with the numeric
  features): ``embed`` turns the inputs into those vectors, ``head`` the vectors into P(buy).
- ``integrated_gradients``: integrated gradients (Sundararajan et al., 2017) of P(buy) after
  event k over the embedded events, from a baseline in that space, with each session's
  completeness error; ``until_complete`` raises the number of steps of the sessions whose
  error is not yet small.
- ``without_events`` and ``deletion_curves``: remove events from a session (the rest move up,
  as if the removed ones never happened) and score it again, most-attributed events first or in
  a random order; ``deletion_area`` sums a curve up.
- ``shuffle_input`` and ``permutation_drop``: the fall of ROC-AUC when one input is shuffled
  over the events of all sessions (or the user features over sessions).
- ``top_k_precision``, ``row_spearman``: agreement of attributions with a known truth, and
  of two models' attributions with each other.
- ``baseline_shap``: SHAP values of the classical baselines (a tree ensemble, or a
  standardised logistic regression).
- ``occlusion``: how much each history item raises a recommender's score of an item.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from scipy.stats import rankdata

from utils.models.evaluate import weighted_auc

EVENT_ARRAYS = ("event_type", "category", "brand", "numeric")  # the per-event inputs of a model


def split_at_events(model) -> tuple[keras.Model, keras.Model]:
    """(embed, head) of a model built by ``build_sequence_model``: ``embed(inputs)`` gives the
    per-event vectors (batch, time, width) that the sequence layers read, and
    ``head([vectors, event_type] + [user])`` gives the model's outputs from them. The padding
    mask still comes from ``event_type``, so a session keeps its length whatever its vectors."""
    numeric = model.input["numeric"]
    joins = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)
             and any(tensor is numeric for tensor in layer.input)]
    if len(joins) != 1:
        raise ValueError(f"model {model.name!r}: expected one Concatenate layer joining the embeddings "
                         "and the numeric input, as utils.models.sequence.build_sequence_model builds it; "
                         f"found {len(joins)}")
    events = joins[0].output
    embed = keras.Model(model.input, events, name=f"{model.name}_embed")
    rest = [model.input["event_type"]] + ([model.input["user"]] if "user" in model.input else [])
    head = keras.Model([events, *rest], model.output, name=f"{model.name}_head")
    return embed, head


def _rest(inputs: dict) -> list:
    return [inputs["event_type"]] + ([inputs["user"]] if "user" in inputs else [])


def _take(inputs: dict, rows) -> dict:
    return {name: value[rows] for name, value in inputs.items()}


def purchase_prob_at(outputs, at) -> tf.Tensor:
    """P(buy) of each row at its position ``at`` (0-based: after event at + 1)."""
    return tf.gather(outputs[..., 1], tf.constant(np.asarray(at), tf.int32), batch_dims=1)


@dataclass
class Attributions:
    events: np.ndarray  # (sessions, time): each event's share of output - baseline_output
    output: np.ndarray  # P(buy) after event k, f(x)
    baseline_output: np.ndarray  # the same with every event at the baseline, f(baseline)
    steps: np.ndarray  # per session, the intervals of the path (trapezoid rule over steps + 1 points)

    @property
    def completeness_error(self) -> np.ndarray:
        """|sum of attributions - (f(x) - f(baseline))| / |f(x) - f(baseline)| per session: 0 when
        the attributions share out exactly the change of the output; NaN where the output does
        not change at all, so that there is nothing to share out and no relative error."""
        change = self.output - self.baseline_output
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(change != 0, np.abs(self.events.sum(1) - change) / np.abs(change), np.nan)

    def replace(self, rows: np.ndarray, other: Attributions) -> None:
        """Take the attributions of sessions ``rows`` from ``other`` (computed for those rows only)."""
        for name in ("events", "output", "baseline_output", "steps"):
            getattr(self, name)[rows] = getattr(other, name)


def integrated_gradients(model, inputs: dict, at, steps: int = 64, baseline: float = 0.0,
                         rows_per_call: int = 8192) -> Attributions:
    """Integrated gradients of P(buy) at position ``at`` of each session (after its event
    at + 1) over the embedded events: for event t, the sum over its vector's entries of
    (x - x') times the mean gradient along the straight path from the baseline x' (every entry
    ``baseline``) to x, by the trapezoid rule over ``steps`` + 1 points. The user features and
    the padding mask stay as they are; events after ``at`` get 0, as the model never reads them."""
    embed, head = split_at_events(model)
    at = np.asarray(at)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, np.float32)
    weights[[0, -1]] /= 2
    n = len(at)
    per_call = max(1, rows_per_call // (steps + 1))  # sessions per call, each at every point
    events, output, base_output = [], np.empty(n), np.empty(n)
    for start in range(0, n, per_call):
        rows = np.arange(start, min(n, start + per_call))
        chunk = _take(inputs, rows)
        x = embed(chunk, training=False)
        x_base = tf.fill(tf.shape(x), tf.constant(baseline, x.dtype))
        path = x_base[None] + alphas[:, None, None, None] * (x - x_base)[None]  # (points, rows, time, width)
        path = tf.reshape(path, (-1, *x.shape[1:]))
        rest = [tf.constant(np.tile(value, (steps + 1,) + (1,) * (value.ndim - 1))) for value in _rest(chunk)]
        with tf.GradientTape() as tape:
            tape.watch(path)
            prob = purchase_prob_at(head([path, *rest], training=False), np.tile(at[rows], steps + 1))
        gradient = tf.reshape(tape.gradient(prob, path), (steps + 1, len(rows), *x.shape[1:]))
        mean_gradient = tf.tensordot(weights, gradient, axes=1)
        events.append(tf.reduce_sum((x - x_base) * mean_gradient, axis=-1).numpy())
        prob = prob.numpy().reshape(steps + 1, len(rows))
        base_output[rows], output[rows] = prob[0], prob[-1]
    return Attributions(np.concatenate(events).astype(float), output, base_output, np.full(n, steps))


def until_complete(model, inputs: dict, at, tolerance: float = 0.05, steps=(16, 32, 64, 128, 256),
                   quantile: float = 0.95, baseline: float = 0.0) -> tuple[Attributions, bool]:
    """Integrated gradients with as many ``steps`` as each session needs: every session starts
    with the fewest, and those whose completeness error is not below ``tolerance`` are computed
    again with the next number, up to the last. Returns the attributions (``steps`` says how
    many each session got) and whether the error at ``quantile`` over the sessions (those whose
    output moves from the baseline's) is below ``tolerance``."""
    at = np.asarray(at)
    result = integrated_gradients(model, inputs, at, steps[0], baseline)
    for n in steps[1:]:
        again = np.flatnonzero(result.completeness_error >= tolerance)  # NaN: no change, nothing to share
        if len(again) == 0:
            break
        result.replace(again, integrated_gradients(model, _take(inputs, again), at[again], n, baseline))
    return result, bool(np.nanquantile(result.completeness_error, quantile) < tolerance)


# ---------------------------------------------------------------------------------------------
# Removing events


def without_events(inputs: dict, keep: np.ndarray) -> tuple[dict, np.ndarray]:
    """The sessions with only the events where ``keep`` (sessions, time) is True: the kept events
    move up in their order and the rest becomes padding (event type 0, everything else 0). For
    the recurrent models, which skip padding, this is the same as masking the removed events;
    the CNN has no mask and reads what stands next to what, so there the gap is closed. Returns
    (inputs, the new number of events of each session)."""
    keep = np.asarray(keep, bool) & (inputs["event_type"] != 0)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept events first, in their order
    length = keep.sum(1)
    real = np.arange(keep.shape[1])[None, :] < length[:, None]
    out = dict(inputs)
    for name in EVENT_ARRAYS:
        per_event = inputs[name].ndim == 2  # ids; numeric features have a third axis
        moved = np.take_along_axis(inputs[name], order if per_event else order[..., None], axis=1)
        out[name] = np.where(real if per_event else real[..., None], moved, 0).astype(inputs[name].dtype)
    return out, length


def deletion_curves(predict, inputs: dict, length: np.ndarray, scores: np.ndarray, n_random: int = 3,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """P(buy) of each session after removing its j events with the highest ``scores`` (first
    array), and after removing j events in a random order (second array, the mean over
    ``n_random`` orders), for j = 0 .. length - 1 (NaN beyond): the session is read up to its
    event ``length``, and at least one event stays. ``predict(inputs)`` gives the outputs
    (sessions, time, 2)."""
    n, width = scores.shape
    rng = np.random.default_rng(seed)
    position = np.arange(width)[None, :]
    real = position < length[:, None]
    prefix = {name: np.where(real if value.ndim == 2 else real[..., None], value, 0).astype(value.dtype)
              if name in EVENT_ARRAYS else value for name, value in inputs.items()}
    orders = [np.argsort(np.where(real, -scores, np.inf), axis=1, kind="stable")]
    orders += [np.argsort(np.where(real, rng.random((n, width)), np.inf), axis=1) for _ in range(n_random)]
    rows, removed, keeps = [], [], []
    for order in orders:
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(width)[None, :].repeat(n, 0), axis=1)
        for j in range(width):
            has = np.flatnonzero(length > j)  # at least one event left after removing j
            rows.append(has)
            removed.append(np.full(len(has), j))
            keeps.append(rank[has] >= j)
    rows, removed = np.concatenate(rows), np.concatenate(removed)
    variants, new_length = without_events(_take(prefix, rows), np.concatenate(keeps))
    prob = purchase_prob_at(predict(variants), new_length - 1).numpy()
    curves = np.full((len(orders), n, width), np.nan)
    which = np.repeat(np.arange(len(orders)), len(rows) // len(orders))
    curves[which, rows, removed] = prob
    return curves[0], curves[1:].mean(0)


def deletion_area(curve: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per session, the mean over j = 0 .. k - 1 of P(buy) after removing j of its k events,
    divided by P(buy) with none removed: 1 when removing changes nothing, lower the faster the
    probability falls. NaN for sessions of one event (nothing to remove)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        area = np.nanmean(curve, axis=1) / curve[:, 0]
    return np.where(length >= 2, area, np.nan)


# ---------------------------------------------------------------------------------------------
# Permutation importance of the sequence models


def shuffle_input(inputs: dict, name: str, rng, column: int | None = None) -> dict:
    """A copy of ``inputs`` with one input shuffled: an event input (``event_type``,
    ``category``, ``brand``, or column ``column`` of ``numeric``) over the real events of all
    sessions, so each event takes the value of a random event and padding stays padding; or
    ``user``, the user features, over sessions."""
    out = dict(inputs)
    if name == "user":
        out["user"] = inputs["user"][rng.permutation(len(inputs["user"]))]
        return out
    real = inputs["event_type"] != 0
    value = inputs[name].copy()
    if column is None:
        value[real] = rng.permutation(value[real])
    else:
        value[..., column][real] = rng.permutation(value[..., column][real])
    out[name] = value
    return out


def permutation_drop(predict_points, inputs: dict, y: np.ndarray, shuffles: dict, n_repeats: int = 3,
                     seed: int = 0) -> dict:
    """{name: {"mean", "std"}}: the fall of ROC-AUC when the input ``shuffles[name] = (input,
    column)`` is shuffled (``shuffle_input``), over ``n_repeats`` shuffles. ``predict_points``
    maps inputs to a score per decision point, in the order of ``y``."""
    ones = np.ones((1, len(y)))
    reference = weighted_auc(y, predict_points(inputs), ones)[0]
    rng = np.random.default_rng(seed)
    drops = {}
    for label, (name, column) in shuffles.items():
        falls = [reference - weighted_auc(y, predict_points(shuffle_input(inputs, name, rng, column)),
                                          ones)[0] for _ in range(n_repeats)]
        drops[label] = {"mean": float(np.mean(falls)), "std": float(np.std(falls))}
    return drops


# ---------------------------------------------------------------------------------------------
# Agreement


def top_k_precision(scores: np.ndarray, truth: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Per session, with k = the number of true events among its first ``length`` events: the
    share of true events among the k events with the highest scores (ties: the earlier event
    first). NaN for sessions without a true event. A random order gets k / length on average."""
    scores, truth = np.asarray(scores, float), np.asarray(truth, bool)
    real = np.arange(scores.shape[1])[None, :] < np.asarray(length)[:, None]
    truth = truth & real
    k = truth.sum(1)
    order = np.argsort(np.where(real, -scores, np.inf), axis=1, kind="stable")
    ranked_truth = np.take_along_axis(truth, order, axis=1)
    hits = (ranked_truth & (np.arange(scores.shape[1])[None, :] < k[:, None])).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(k > 0, hits / k, np.nan)


def row_spearman(a: np.ndarray, b: np.ndarray, length: np.ndarray, min_events: int = 3) -> np.ndarray:
    """Spearman rank correlation of ``a`` and ``b`` over the first ``length`` events of each row;
    NaN where the row has fewer than ``min_events`` events or either is constant."""
    result = np.full(len(a), np.nan)
    for row, n in enumerate(length):
        if n >= min_events:
            ra, rb = rankdata(a[row, :n]), rankdata(b[row, :n])
            if ra.std() > 0 and rb.std() > 0:
                result[row] = np.corrcoef(ra, rb)[0, 1]
    return result


# ---------------------------------------------------------------------------------------------
# The classical baselines and the recommender


def baseline_shap(model, x: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, float]:
    """(SHAP values (rows, features), expected value), in log-odds, of a fitted
    HistGradientBoostingClassifier (TreeExplainer, exact for trees) or a pipeline ending in a
    LogisticRegression after a StandardScaler (LinearExplainer with ``background`` as the
    reference: each value is the coefficient times the standardised value minus its mean over
    the background)."""
    with warnings.catch_warnings():  # its import warns about matplotlib and tqdm calls of no matter here
        warnings.simplefilter("ignore")
        import shap

    if hasattr(model, "steps"):
        scaler, linear = model[:-1], model[-1]
        reference = scaler.transform(background)  # all of it (shap's default keeps only 100 rows)
        masker = shap.maskers.Independent(reference, max_samples=len(reference))
        explainer = shap.LinearExplainer(linear, masker)
        return np.asarray(explainer.shap_values(scaler.transform(x))), float(explainer.expected_value)
    explainer = shap.TreeExplainer(model)
    return np.asarray(explainer.shap_values(x)), float(np.ravel(explainer.expected_value)[0])


def occlusion(score, history: np.ndarray, column: int) -> np.ndarray:
    """For each item of ``history``, how much it raises the score in ``column``: the score with
    the whole history minus the score with that item left out. ``score(sequences)`` gives one
    row of scores per sequence (a recommender's ``NextItemScorer.score``)."""
    history = np.asarray(history)
    variants = [history] + [np.delete(history, i) for i in range(len(history))]
    scores = np.asarray(score(variants))[:, column]
    return scores[0] - scores[1:]
