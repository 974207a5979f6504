"""Training that protects the shoppers in the data: DP-SGD, federated averaging (plain and with
client-level differential privacy), the privacy accountant, and a membership-inference attack.

- **DP-SGD** (Abadi et al. 2016). ``DPSGDModel.train_step`` computes one gradient per example,
  clips each to L2 norm ``l2_clip``, adds Gaussian noise of standard deviation
  ``noise_multiplier * l2_clip`` to their sum and divides by the expected batch size. An example
  is one session here. ``poisson_batches`` draws each batch by including every example
  independently with probability q, which is the sampling the accountant assumes.
- **Accountant.** ``epsilon_spent`` and ``noise_for_epsilon`` use dp-accounting's RDP accountant
  for a Poisson-subsampled Gaussian mechanism composed over the steps.
- **FedAvg** (McMahan et al. 2017). ``federated_averaging`` starts every client from the global
  weights each round, trains it locally, and averages the changes weighted by the clients' sizes.
  With ``update_clip`` it is DP-FedAvg (McMahan et al. 2018): each client's change is clipped and
  the unweighted mean gets Gaussian noise, which protects a whole client. Only weights travel.
- **Membership inference** (Yeom et al. 2018). ``loss_by_group`` gives each shopper's mean loss;
  a low loss suggests the shopper was trained on.

``build_private_lstm`` is the model notebook 12 trains every way (the notebook shows the same
function; a test keeps the two identical).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from utils.models.sequence import EMBEDDING_SIZES

DELTA = 1e-5  # the delta of every (epsilon, delta) guarantee reported here
# Renyi orders the accountant tries. Orders below 2 fail to converge for noise multipliers under 1
# and only matter for epsilons far above 10, so they are left out.
RDP_ORDERS = [2 + i / 4 for i in range(33)] + list(range(11, 65)) + [128, 256, 512]


def build_private_lstm(vocab_sizes, max_len, n_numeric, units=32):
    """The purchase LSTM, unrolled over a session's max_len events (DP-SGD differentiates each
    session separately, which needs a graph without a loop): output[:, t, 1] is P(the session
    buys) after its event t + 1."""
    inputs = {name: keras.Input((max_len,), dtype="int32", name=name) for name in EMBEDDING_SIZES}
    inputs["numeric"] = keras.Input((max_len, n_numeric), name="numeric")
    embedded = [layers.Embedding(vocab_sizes[name], size, name=f"{name}_embedding")(inputs[name])
                for name, size in EMBEDDING_SIZES.items()]
    x = layers.Concatenate()([*embedded, inputs["numeric"]])
    mask = keras.ops.not_equal(inputs["event_type"], 0)  # event type 0 marks padding
    x = layers.LSTM(units, return_sequences=True, unroll=True, name="lstm")(x, mask=mask)
    x = layers.Dense(max(units // 2, 8), activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax", name="purchase")(x)
    return keras.Model(inputs, outputs, name="private_lstm")


def _accountant_epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    import dp_accounting

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(noise_multiplier)),
        steps)
    accountant = dp_accounting.rdp.RdpAccountant(orders=RDP_ORDERS)
    accountant.compose(event)
    return float(accountant.get_epsilon(delta))


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, delta: float = DELTA) -> float:
    """The epsilon of ``steps`` Gaussian steps with ``noise_multiplier``, each on a Poisson
    sample at rate ``sample_rate`` (1.0: every example or client in every step)."""
    if noise_multiplier <= 0:
        return float("inf")
    return _accountant_epsilon(noise_multiplier, sample_rate, steps, delta)


def noise_for_epsilon(epsilon: float, sample_rate: float, steps: int, delta: float = DELTA) -> float:
    """The smallest noise multiplier whose epsilon after ``steps`` is at most ``epsilon``
    (bisection on the accountant, to 0.1% of the multiplier)."""
    low, high = 0.0, 1.0
    while epsilon_spent(high, sample_rate, steps, delta) > epsilon:
        low, high = high, 2 * high
        if high > 1e4:
            raise ValueError(f"no noise multiplier below 10,000 reaches epsilon {epsilon} in {steps} steps")
    while high - low > 1e-3 * high:
        middle = (low + high) / 2
        too_little = epsilon_spent(middle, sample_rate, steps, delta) > epsilon
        low, high = (middle, high) if too_little else (low, middle)
    return high


class DPSGDModel(keras.Model):
    """A Keras model trained by DP-SGD: build it from the inputs and outputs of a functional
    model (``DPSGDModel(model.inputs, model.outputs)`` shares its layers), set ``l2_clip``,
    ``noise_multiplier`` and ``expected_batch_size``, compile with an optimizer, and train on
    ``poisson_batches``. The loss of an example is its sample-weighted categorical
    cross-entropy, summed over its time steps."""

    l2_clip = 1.0
    noise_multiplier = 1.0
    expected_batch_size = 256.0

    def train_step(self, data):
        x, y, weight = data

        def example_gradient(example):  # one example, as a batch of one
            xi, yi, wi = tf.nest.map_structure(lambda t: t[None], example)
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(keras.losses.categorical_crossentropy(yi, self(xi, training=True)) * wi)
            return [tf.convert_to_tensor(g) for g in tape.gradient(loss, self.trainable_variables)]

        grads = tf.vectorized_map(example_gradient, (x, y, weight))  # each: (batch, *variable shape)
        norms = tf.sqrt(tf.add_n([tf.reduce_sum(tf.reshape(g, [tf.shape(g)[0], -1]) ** 2, 1) for g in grads]))
        scale = tf.minimum(1.0, self.l2_clip / (norms + 1e-12))  # clip each example to l2_clip
        noisy = [(tf.tensordot(scale, g, 1) + tf.random.normal(tf.shape(g)[1:], stddev=self.noise_multiplier
                                                              * self.l2_clip)) / self.expected_batch_size
                 for g in grads]
        self.optimizer.apply(noisy, self.trainable_variables)
        return {"clipped_share": tf.reduce_mean(tf.cast(norms > self.l2_clip, tf.float32))}


def poisson_batches(n: int, sample_rate: float, steps: int, seed: int):
    """``steps`` batches of row indices; each row is in each batch with probability
    ``sample_rate``, independently (so batch sizes vary, and a batch can be empty)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        yield np.flatnonzero(rng.random(n) < sample_rate)


def fit_dp_sgd(model: DPSGDModel, x: dict, y: np.ndarray, weight: np.ndarray, sample_rate: float,
               steps: int, seed: int) -> float:
    """Train ``model`` for ``steps`` Poisson-sampled batches; returns the share of examples whose
    gradient was clipped, over the last 10% of the steps (near 1: the clip bounds almost every
    gradient, so it could be lower)."""
    clipped = []
    for step, rows in enumerate(poisson_batches(len(y), sample_rate, steps, seed)):
        batch_weight = weight[rows]
        if len(rows) == 0:  # nothing sampled: the step still adds its noise, as the accountant assumes;
            rows, batch_weight = np.zeros(1, int), np.zeros_like(weight[:1])  # one example of weight 0
        batch = {k: v[rows] for k, v in x.items()}
        logs = model.train_on_batch(batch, y[rows], batch_weight, return_dict=True)
        if step >= int(0.9 * steps):  # the last 10% of the steps, at least the last one
            clipped.append(logs["clipped_share"])
    return float(np.mean(clipped)) if clipped else float("nan")


@dataclass
class FederatedRun:
    rounds: int
    bytes_per_round: int  # weights down to every client and changes back up, float32
    history: list = field(default_factory=list)  # what ``on_round`` returned after each round
    update_norms: list = field(default_factory=list)  # DP-FedAvg: each client change's norm before clipping


class _Restart:
    """Puts a compiled model back to given weights with a fresh optimizer (step count and moments
    at zero, the learning rate kept), so one model object trains many clients without retracing."""

    def __init__(self, model):
        model.optimizer.build(model.trainable_variables)
        self.model, self.fresh = model, [v.numpy() for v in model.optimizer.variables]

    def __call__(self, weights) -> None:
        self.model.set_weights(weights)
        for variable, value in zip(self.model.optimizer.variables, self.fresh, strict=True):
            variable.assign(value)


def local_training(model, clients: list[tuple[dict, np.ndarray, np.ndarray]], epochs: int,
                   batch_size: int) -> list[list[np.ndarray]]:
    """Each client trains alone from the model's current weights for ``epochs``: the weights of
    each client's own model, in the order of ``clients``."""
    restart, start, trained = _Restart(model), model.get_weights(), []
    for x, target, weight in clients:
        restart(start)
        model.fit(x, target, sample_weight=weight, batch_size=batch_size, epochs=epochs, shuffle=True,
                  verbose=0)
        trained.append(model.get_weights())
    return trained


def federated_averaging(model, clients: list[tuple[dict, np.ndarray, np.ndarray]], rounds: int,
                        local_epochs: int, batch_size: int, update_clip: float | None = None,
                        noise_multiplier: float = 0.0, seed: int = 0,
                        on_round: Callable | None = None) -> FederatedRun:
    """Train the compiled ``model`` by FedAvg over ``clients`` ((inputs, targets, sample weights)
    each): every round, each client trains ``local_epochs`` from the global weights (with a fresh
    optimizer) and sends its change; the server adds the mean change, weighted by client size.

    With ``update_clip`` (DP-FedAvg), each change is clipped to that L2 norm, the mean is
    unweighted, and Gaussian noise of standard deviation ``noise_multiplier * update_clip /
    n_clients`` is added to it. ``on_round(model, round)`` runs after each round with the global
    weights loaded; its results are kept in ``history``. Leaves the global weights in ``model``."""
    rng = np.random.default_rng(seed)
    restart, global_weights = _Restart(model), model.get_weights()
    sizes = np.array([len(target) for _, target, _ in clients], float)
    n_values = sum(w.size for w in global_weights)
    run = FederatedRun(rounds, bytes_per_round=int(2 * len(clients) * n_values * 4))
    for round_ in range(1, rounds + 1):
        changes = []
        for x, target, weight in clients:
            restart(global_weights)
            model.fit(x, target, sample_weight=weight, batch_size=batch_size, epochs=local_epochs,
                      shuffle=True, verbose=0)
            change = [new - old for new, old in zip(model.get_weights(), global_weights, strict=True)]
            if update_clip is not None:
                norm = np.sqrt(sum(float((c ** 2).sum()) for c in change))
                run.update_norms.append(norm)
                change = [c * min(1.0, update_clip / max(norm, 1e-12)) for c in change]
            changes.append(change)
        by_variable = list(zip(*changes, strict=True))
        if update_clip is None:
            mean = [np.tensordot(sizes / sizes.sum(), np.stack(parts), 1) for parts in by_variable]
        else:
            sd = noise_multiplier * update_clip / len(clients)
            mean = [np.mean(parts, 0) + rng.normal(0, sd, parts[0].shape) for parts in by_variable]
        global_weights = [(w + m).astype(w.dtype) for w, m in zip(global_weights, mean, strict=True)]
        model.set_weights(global_weights)
        if on_round is not None:
            run.history.append(on_round(model, round_))
    return run


def loss_by_group(model, x: dict, y: np.ndarray, weight: np.ndarray, groups: np.ndarray,
                  batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(groups, each group's mean loss): the weighted cross-entropy of every example, summed
    over its time steps and divided by its weight, then averaged over the group's examples."""
    prob = model.predict(x, batch_size=batch_size, verbose=0)
    ce = -np.log(np.clip((prob * y).sum(-1), 1e-7, None))
    per_example = (ce * weight).sum(-1) / np.maximum(weight.sum(-1), 1e-12)
    names, index = np.unique(groups, return_inverse=True)
    return names, np.bincount(index, per_example) / np.bincount(index)
