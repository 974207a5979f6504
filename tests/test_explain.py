"""Attributions and their checks (utils.models.explain), the simulator's truth of which events
raise the purchase probability (utils.data.simulate.truth), and notebook 13's copy of the model
it explains."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.helpers import notebook_definition
from utils.core import config
from utils.data.features import EVENT_CODES
from utils.data.simulate.truth import raising_events
from utils.models import evaluate, explain, sequence

VOCAB = {"event_type": 5, "category": 6, "brand": 7}
VIEW, CART, REMOVE = EVENT_CODES["view"], EVENT_CODES["cart"], EVENT_CODES["remove_from_cart"]


def batch(n=6, width=5, n_numeric=2, n_user=0, seed=0):
    rng = np.random.default_rng(seed)
    length = rng.integers(1, width + 1, n)
    real = np.arange(width)[None, :] < length[:, None]
    inputs = {"event_type": np.where(real, rng.integers(1, 4, (n, width)), 0).astype("int32"),
              "category": np.where(real, rng.integers(1, 6, (n, width)), 0).astype("int32"),
              "brand": np.where(real, rng.integers(1, 7, (n, width)), 0).astype("int32"),
              "numeric": np.where(real[..., None], rng.normal(size=(n, width, n_numeric)), 0).astype(
                  "float32")}
    if n_user:
        inputs["user"] = rng.normal(size=(n, n_user)).astype("float32")
    return inputs, length


def linear_model(n_numeric=2):
    """The inputs of build_sequence_model, and P(buy) after event t = w . (sum of the per-event
    vectors up to t): linear in the embedded events, so integrated gradients are exact."""
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in sequence.EMBEDDING_SIZES}
    inputs["numeric"] = keras.Input((None, n_numeric), name="numeric")
    embedded = [layers.Embedding(VOCAB[name], size)(inputs[name])
                for name, size in sequence.EMBEDDING_SIZES.items()]
    x = layers.Concatenate()([*embedded, inputs["numeric"]])
    score = keras.ops.cumsum(layers.Dense(1, use_bias=False, name="weights")(x), axis=1)
    return keras.Model(inputs, keras.ops.concatenate([keras.ops.zeros_like(score), score], axis=-1))


def test_integrated_gradients_of_a_linear_model_are_weight_times_input():
    config.seed_everything(0)
    model = linear_model()
    inputs, length = batch()
    at = length - 1
    result = explain.integrated_gradients(model, inputs, at, steps=4)
    embed, _ = explain.split_at_events(model)
    vectors = embed(inputs).numpy()
    weights = model.get_layer("weights").get_weights()[0][:, 0]
    expected = np.where(np.arange(5)[None, :] <= at[:, None], vectors @ weights, 0.0)  # zero baseline
    np.testing.assert_allclose(result.events, expected, atol=1e-5)
    np.testing.assert_allclose(result.output, expected.sum(1), atol=1e-5)
    np.testing.assert_allclose(result.baseline_output, 0, atol=1e-7)
    assert np.nanmax(result.completeness_error) < 1e-4


def test_the_split_model_gives_the_models_outputs_and_more_steps_complete_the_attributions():
    config.seed_everything(1)
    model = sequence.build_sequence_model("lstm", VOCAB, n_numeric=2, n_user_features=3, units=8)
    inputs, length = batch(n=8, n_user=3)
    embed, head = explain.split_at_events(model)
    rest = [tf.constant(inputs["event_type"]), tf.constant(inputs["user"])]
    np.testing.assert_allclose(head([embed(inputs), *rest]).numpy(), model(inputs).numpy(), atol=1e-6)
    coarse = explain.integrated_gradients(model, inputs, length - 1, steps=2)
    fine, reached = explain.until_complete(model, inputs, length - 1, tolerance=0.01, steps=(2, 64, 256))
    assert reached and fine.steps.max() > 2 and set(fine.steps) <= {2, 64, 256}
    assert np.all(fine.completeness_error[fine.steps < 256] < 0.01)  # refined only until below the tolerance
    assert np.nanquantile(fine.completeness_error, 0.95) < 0.01
    assert np.nanmedian(fine.completeness_error) < np.nanmedian(coarse.completeness_error)
    # the model never reads events after the decision point: they get nothing
    after = np.arange(5)[None, :] > (length - 1)[:, None]
    assert np.all(fine.events[after] == 0)
    _, never = explain.until_complete(model, inputs, length - 1, tolerance=1e-12, steps=(2, 4))
    assert not never


def test_split_at_events_names_what_it_expects_of_another_model():
    inputs = keras.Input((None, 2), name="numeric")
    model = keras.Model({"numeric": inputs}, layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="Concatenate"):
        explain.split_at_events(model)


def test_removing_events_closes_the_gap_and_pads_the_end():
    inputs = {"event_type": np.array([[1, 2, 3, 0]]), "category": np.array([[4, 5, 6, 0]]),
              "brand": np.array([[7, 8, 9, 0]]),
              "numeric": np.arange(8, dtype="float32").reshape(1, 4, 2) + 1,
              "user": np.array([[0.5]])}
    out, length = explain.without_events(inputs, np.array([[True, False, True, True]]))
    assert length.tolist() == [2]
    assert out["event_type"].tolist() == [[1, 3, 0, 0]] and out["category"].tolist() == [[4, 6, 0, 0]]
    assert out["numeric"][0].tolist() == [[1, 2], [5, 6], [0, 0], [0, 0]]
    assert out["user"].tolist() == [[0.5]]


def test_for_a_recurrent_model_removing_an_event_is_masking_it():
    config.seed_everything(2)
    model = sequence.build_sequence_model("gru", VOCAB, n_numeric=2, n_user_features=3, units=8)
    inputs, _ = batch(n=10, n_user=3, seed=5)
    inputs = {name: value[:, :4] if name != "user" else value for name, value in inputs.items()}
    inputs["event_type"][:, :4] = np.maximum(inputs["event_type"][:, :4], 1)  # four events each
    keep = np.ones((10, 4), bool)
    keep[:, 1] = False
    shorter, length = explain.without_events(inputs, keep)
    masked = {name: value.copy() for name, value in inputs.items()}
    for name in explain.EVENT_ARRAYS:
        masked[name][:, 1] = 0  # padding in place
    after_removal = model(shorter).numpy()[np.arange(10), length - 1, 1]
    np.testing.assert_allclose(after_removal, model(masked).numpy()[:, 3, 1], atol=1e-6)


def cumulative_predict(x):
    """P(buy) after event t = the sum of numeric feature 0 over the events so far, / 10."""
    score = np.cumsum(x["numeric"][..., 0] * (x["event_type"] != 0), axis=1) / 10
    return np.stack([1 - score, score], axis=-1)


def test_deletion_removes_the_highest_scored_events_first():
    numeric = np.zeros((2, 4, 1), "float32")
    numeric[0, :3, 0] = [3, 1, 2]
    numeric[1, :2, 0] = [1, 4]
    inputs = {"event_type": np.array([[1, 1, 1, 0], [1, 1, 0, 0]]), "category": np.ones((2, 4), int),
              "brand": np.ones((2, 4), int), "numeric": numeric}
    length = np.array([3, 2])
    attributed, random = explain.deletion_curves(cumulative_predict, inputs, length, numeric[..., 0],
                                                 n_random=20)
    np.testing.assert_allclose(attributed[0, :3], [0.6, 0.3, 0.1], atol=1e-6)
    np.testing.assert_allclose(attributed[1, :2], [0.5, 0.1], atol=1e-6)
    assert np.isnan(attributed[0, 3]) and np.isnan(attributed[1, 2:]).all()
    assert random[0, 0] == pytest.approx(0.6) and random[0, 1] > attributed[0, 1]
    area = explain.deletion_area(attributed, length)
    assert area[0] == pytest.approx((0.6 + 0.3 + 0.1) / 3 / 0.6)
    assert np.isnan(explain.deletion_area(attributed[:1], np.array([1]))[0])  # nothing to remove


def test_a_shuffle_moves_values_between_real_events_only():
    inputs, _ = batch(n=30, n_user=2, seed=3)
    rng = np.random.default_rng(0)
    for name, column in [("event_type", None), ("numeric", 1)]:
        out = explain.shuffle_input(inputs, name, rng, column)
        real = inputs["event_type"] != 0
        before = inputs[name] if column is None else inputs[name][..., column]
        after = out[name] if column is None else out[name][..., column]
        assert np.array_equal(np.sort(before[real]), np.sort(after[real]))
        assert not np.array_equal(before, after)
        assert np.all(after[~real] == 0) and np.array_equal(out["event_type"] != 0, real)
    shuffled = explain.shuffle_input(inputs, "user", rng)["user"]
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, inputs["user"]))


def test_permutation_drop_is_zero_for_an_input_the_model_ignores():
    inputs, _ = batch(n=200, seed=4)
    y = (inputs["event_type"][:, 0] == 2).astype(int)

    def predict_points(x):  # reads only the first event's type
        return (x["event_type"][:, 0] == 2).astype(float)

    drops = explain.permutation_drop(predict_points, inputs, y, {"event type": ("event_type", None),
                                                                 "brand": ("brand", None)}, n_repeats=2)
    assert drops["brand"]["mean"] == 0 and drops["event type"]["mean"] > 0.2


def test_top_k_precision_counts_true_events_among_the_k_highest():
    scores = np.array([[0.1, 0.9, 0.5, 0.2], [0.3, 0.2, 0.1, 9.0], [1, 2, 3, 4]])
    truth = np.array([[0, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0]], bool)
    precision = explain.top_k_precision(scores, truth, np.array([4, 3, 4]))
    # row 1: the event at position 3 lies beyond its length, so k = 1 and the top event is true
    np.testing.assert_allclose(precision[:2], [0.5, 1.0])
    assert np.isnan(precision[2])


def test_row_spearman():
    a = np.array([[1.0, 2, 3, 4], [1, 2, 3, 4], [1, 2, 0, 0], [1, 1, 1, 0]])
    b = np.array([[2.0, 4, 6, 9], [4, 3, 2, 1], [2, 1, 0, 0], [1, 2, 3, 0]])
    rho = explain.row_spearman(a, b, np.array([4, 4, 2, 3]))
    np.testing.assert_allclose(rho[:2], [1, -1])
    assert np.isnan(rho[2]) and np.isnan(rho[3])  # too short; constant


def test_baseline_shap_is_coefficient_times_standardised_value_and_adds_up_for_trees():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4)) * [1, 2, 3, 4] + [0, 1, 2, 3]
    y = (x[:, 0] + 0.5 * x[:, 2] + rng.normal(size=300) > 2).astype(int)
    linear = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    values, expected = explain.baseline_shap(linear, x[:20], x)
    scaled = linear[0].transform(x)
    exact = linear[-1].coef_[0] * (linear[0].transform(x[:20]) - scaled.mean(0))
    np.testing.assert_allclose(values, exact, atol=1e-8)
    np.testing.assert_allclose(values.sum(1) + expected, linear.decision_function(x[:20]), atol=1e-8)
    trees = HistGradientBoostingClassifier(max_iter=20).fit(x, y)
    values, expected = explain.baseline_shap(trees, x[:20], x)
    np.testing.assert_allclose(values.sum(1) + expected, trees.decision_function(x[:20]), atol=1e-6)


def test_occlusion_measures_what_each_history_item_adds():
    def score(sequences):  # item 7 in the history adds 2 to column 0, every item adds 1
        return np.array([[2.0 * np.sum(s == 7) + len(s), 0.0] for s in sequences])

    np.testing.assert_allclose(explain.occlusion(score, np.array([3, 7, 4]), column=0), [1, 3, 1])


def test_raising_events_are_carts_of_items_that_stay_in_the_cart():
    event_type = np.array([
        [CART, CART, REMOVE, VIEW, 0],  # A kept, B removed
        [CART, REMOVE, CART, 0, 0],  # A out and back in: the second cart counts
        [CART, CART, VIEW, 0, 0],  # the same item twice (quantity): once
        [REMOVE, CART, CART, REMOVE, 0],  # a remove of an earlier visit's item; B removed after length
    ])
    item = np.array([[1, 2, 2, 3, 0], [1, 1, 1, 0, 0], [1, 1, 4, 0, 0], [9, 1, 2, 2, 0]])
    truth = raising_events(event_type, item, np.array([4, 3, 3, 3]))
    assert truth.tolist() == [
        [True, False, False, False, False],
        [False, False, True, False, False],
        [True, False, False, False, False],
        [False, True, True, False, False],
    ]
    with pytest.raises(ValueError, match="one item id per event"):
        raising_events(event_type, item[:, :3], np.array([4, 3, 3, 3]))


def test_weighted_mean_leaves_out_missing_values():
    weights = np.array([[1, 1, 1, 1], [2, 0, 1, 0]])
    np.testing.assert_allclose(evaluate.weighted_mean([1.0, 2.0, np.nan, 5.0], weights), [8 / 3, 1.0])


def test_notebook_13_shows_the_builder_of_the_models_it_explains():
    shown, first_line = notebook_definition("13_explainability.ipynb", "build_sequence_model")
    assert shown == inspect.getsource(sequence.build_sequence_model).rstrip("\n"), (
        "build_sequence_model in notebooks/13_explainability.ipynb differs from utils/models/sequence.py; "
        "change both")
    assert first_line.startswith("# the same function is in utils/models/sequence.py")
