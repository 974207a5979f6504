"""utils.models.private: the accountant, DP-SGD's clipping and noise, FedAvg and the attack scores."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import notebook_definition
from utils.core import config
from utils.models import private


def tiny_model(steps=3, features=2):
    inputs = {"x": keras.Input((steps, features), name="x")}
    hidden = keras.layers.LSTM(4, return_sequences=True, unroll=True)(inputs["x"])
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))


def tiny_data(n=12, steps=3, features=2, seed=0):
    rng = np.random.default_rng(seed)
    x = {"x": rng.normal(size=(n, steps, features)).astype("float32")}
    label = rng.integers(0, 2, n)
    y = np.repeat(np.eye(2, dtype="float32")[label][:, None], steps, axis=1)
    return x, y, np.full((n, steps), 1 / steps, "float32")


def test_the_accountant_matches_known_values_and_inverts():
    # one Gaussian step with sigma 1, no sampling: RDP alpha / (2 sigma^2) at each order alpha, turned
    # into (epsilon, delta) by the conversion of Balle et al. (2020), at the best order
    orders = np.array(private.RDP_ORDERS, float)
    expected = min(orders / 2 + np.log((orders - 1) / orders)
                   - (np.log(1e-5) + np.log(orders)) / (orders - 1))
    assert private.epsilon_spent(1.0, 1.0, 1, 1e-5) == pytest.approx(expected, rel=1e-3)
    assert private.epsilon_spent(2.0, 0.01, 100) < private.epsilon_spent(1.0, 0.01, 100)  # more noise
    assert private.epsilon_spent(1.0, 0.01, 200) > private.epsilon_spent(1.0, 0.01, 100)  # more steps
    assert private.epsilon_spent(0.0, 0.01, 100) == float("inf")
    for target in (1.0, 8.0):
        noise = private.noise_for_epsilon(target, 0.05, 90)
        assert private.epsilon_spent(noise, 0.05, 90) <= target
        assert private.epsilon_spent(0.99 * noise, 0.05, 90) > target  # the smallest such noise


def test_poisson_batches_include_each_row_independently_at_the_rate():
    batches = list(private.poisson_batches(1000, 0.1, 200, seed=0))
    sizes = np.array([len(b) for b in batches])
    assert len(batches) == 200 and abs(sizes.mean() - 100) < 3 and sizes.std() > 5  # sizes vary
    counts = np.bincount(np.concatenate(batches), minlength=1000)
    assert abs(counts.mean() - 20) < 1  # each row about rate x steps times


def dp_step(l2_clip, noise_multiplier):
    """One DP-SGD step with plain SGD at rate 1: returns (weights before, after, x, y, weight)."""
    config.seed_everything(0)
    base = tiny_model()
    model = private.DPSGDModel(base.inputs, base.outputs)
    model.l2_clip, model.noise_multiplier, model.expected_batch_size = l2_clip, noise_multiplier, 4.0
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    x, y, weight = tiny_data()
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y, weight)
    return model, before, x, y, weight


def test_without_noise_and_with_a_loose_clip_dp_sgd_is_sgd_on_the_summed_loss():
    model, before, x, y, weight = dp_step(l2_clip=1e6, noise_multiplier=0.0)
    probe = tiny_model()
    probe.set_weights(before)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.categorical_crossentropy(y, probe(x)) * weight)
    grads = tape.gradient(loss, probe.trainable_variables)
    for old, new, grad in zip(before, model.get_weights(), grads, strict=True):
        np.testing.assert_allclose(old - new, grad.numpy() / 4.0, atol=1e-5)


def test_each_example_is_clipped_before_the_sum_and_the_noise_has_the_stated_scale():
    clip = 0.05
    model, before, x, y, weight = dp_step(l2_clip=clip, noise_multiplier=0.0)
    probe = tiny_model()
    probe.set_weights(before)
    expected = [np.zeros_like(w) for w in before]
    for i in range(len(y)):  # each example's gradient, clipped on its own, then summed
        with tf.GradientTape() as tape:
            prob = probe({"x": x["x"][i:i + 1]})
            loss = tf.reduce_sum(keras.losses.categorical_crossentropy(y[i:i + 1], prob) * weight[i:i + 1])
        grads = [g.numpy() for g in tape.gradient(loss, probe.trainable_variables)]
        norm = np.sqrt(sum((g ** 2).sum() for g in grads))
        assert norm > clip  # the clip binds, so clipping the sum instead would give another step
        expected = [e + g * clip / norm for e, g in zip(expected, grads, strict=True)]
    for old, new, step in zip(before, model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(old - new, step / 4.0, atol=1e-6)
    model, before, *_ = dp_step(l2_clip=1.0, noise_multiplier=50.0)
    changes = np.concatenate([(a - b).ravel() for a, b in zip(before, model.get_weights(), strict=True)])
    assert np.std(changes) == pytest.approx(50.0 / 4.0, rel=0.25)  # the noise dwarfs the clipped gradients


def test_fedavg_of_identical_clients_is_one_client_training_and_counts_the_bytes():
    x, y, weight = tiny_data()
    results = []
    for clients in ([(x, y, weight)], [(x, y, weight)] * 3):
        config.seed_everything(0)
        model = tiny_model()
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy")
        run = private.federated_averaging(model, clients, rounds=2, local_epochs=1, batch_size=len(y),
                                          on_round=lambda m, r: r)
        results.append((model.get_weights(), run))
    for one, three in zip(results[0][0], results[1][0], strict=True):
        np.testing.assert_allclose(one, three, atol=1e-6)  # full batches: every client does the same
    n_values = sum(w.size for w in results[0][0])
    assert results[1][1].bytes_per_round == 2 * 3 * n_values * 4 and results[1][1].history == [1, 2]


def test_dp_fedavg_clips_each_change_and_local_training_starts_each_client_afresh():
    x, y, weight = tiny_data()
    config.seed_everything(0)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="categorical_crossentropy")
    start = model.get_weights()
    run = private.federated_averaging(model, [(x, y, weight)] * 2, rounds=1, local_epochs=3, batch_size=4,
                                      update_clip=1e-4, noise_multiplier=0.0)
    moved = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(start, model.get_weights(), strict=True)))
    assert moved <= 1e-4 + 1e-7 and len(run.update_norms) == 2 and min(run.update_norms) > 1e-4
    model.set_weights(start)
    first, second = private.local_training(model, [(x, y, weight)] * 2, epochs=2, batch_size=len(y))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)  # same data, same start, fresh optimizer: same model


def test_loss_by_group_averages_each_groups_sessions():
    class Fixed:  # predicts P(buy) = 0.8 at every step
        def predict(self, x, batch_size, verbose):
            return np.tile([0.2, 0.8], (len(x["x"]), 3, 1))

    x, _, weight = tiny_data(n=3)
    y = np.repeat(np.eye(2, dtype="float32")[[1, 0, 1]][:, None], 3, axis=1)
    names, loss = private.loss_by_group(Fixed(), x, y, weight, np.array(["b", "a", "b"]))
    assert list(names) == ["a", "b"]
    np.testing.assert_allclose(loss, [-np.log(0.2), -np.log(0.8)], rtol=1e-6)


def test_notebook_12_shows_the_builder_it_trains_and_the_builder_reads_sessions():
    shown, first_line = notebook_definition("12_privacy.ipynb", "build_private_lstm")
    assert shown == inspect.getsource(private.build_private_lstm).rstrip("\n"), (
        "build_private_lstm in notebooks/12_privacy.ipynb differs from utils/models/private.py; change both")
    assert first_line.startswith("# the same function is in utils/models/private.py")
    vocab_sizes = {"event_type": 5, "category": 7, "brand": 9}
    model = private.build_private_lstm(vocab_sizes, max_len=4, n_numeric=2, units=8)
    batch = {"event_type": np.array([[1, 2, 0, 0]]), "category": np.ones((1, 4), int),
             "brand": np.ones((1, 4), int), "numeric": np.zeros((1, 4, 2), "float32")}
    prob = model.predict(batch, verbose=0)
    assert prob.shape == (1, 4, 2) and np.allclose(prob.sum(-1), 1)


def test_an_empty_poisson_batch_still_adds_the_noise():
    x, y, weight = tiny_data(n=3)
    config.seed_everything(0)
    base = tiny_model()
    model = private.DPSGDModel(base.inputs, base.outputs)
    model.l2_clip, model.noise_multiplier, model.expected_batch_size = 1.0, 1.0, 0.03
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    assert not any(len(b) for b in private.poisson_batches(3, 1e-6, 5, seed=0))  # every batch empty
    before = [w.copy() for w in model.get_weights()]
    private.fit_dp_sgd(model, x, y, weight, sample_rate=1e-6, steps=5, seed=0)
    moved = np.concatenate([(a - b).ravel() for a, b in zip(before, model.get_weights(), strict=True)])
    assert np.std(moved) == pytest.approx(np.sqrt(5) / 0.03, rel=0.3)  # five noise-only steps
