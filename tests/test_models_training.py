"""Unit tests of utils.models.evaluate (metrics, intervals, paired comparison), utils.models.train (class
balancing, configurations, the tf.data pipeline, predictions, the study) and utils.models.sequence, on tiny
synthetic inputs built here; and the proof that notebook 05 shows the model that is trained.
TensorFlow-heavy tests are marked slow."""

import ast
import inspect
import json
import math

import nbformat
import numpy as np
import pytest

from utils.core.config import NOTEBOOKS_DIR
from utils.data.features import EVENT_CODES, NUMERIC_FEATURES
from utils.models import evaluate, sequence, train
from utils.models.sequence import SEQUENCE_KINDS, build_sequence_model

VOCAB = {"event_type": len(EVENT_CODES) + 1, "category": 6, "brand": 4}
N_NUMERIC = len(NUMERIC_FEATURES)
CLASSIC_CONFIG = {"units": 128, "dropout": 0.0, "l2": 0.0, "learning_rate": 1e-3}
NOTEBOOK_05 = NOTEBOOKS_DIR / "05_rnn_vs_lstm.ipynb"


def random_arrays(n: int, max_len: int, seed: int = 0, min_len: int = 1) -> dict:
    """Arrays shaped like SequenceEncoder.transform's, left-aligned and zero-padded. The first
    numeric feature of each session's first event is its row number, to recognise it later."""
    rng = np.random.default_rng(seed)
    length = rng.integers(min_len, max_len + 1, size=n).astype(np.int32)
    valid = np.arange(max_len)[None, :] < length[:, None]
    arrays = {
        "event_type": np.where(valid, rng.integers(1, VOCAB["event_type"], (n, max_len)), 0),
        "category": np.where(valid, rng.integers(1, VOCAB["category"], (n, max_len)), 0),
        "brand": np.where(valid, rng.integers(1, VOCAB["brand"], (n, max_len)), 0),
    }
    arrays = {k: v.astype(np.int32) for k, v in arrays.items()}
    numeric = rng.normal(size=(n, max_len, N_NUMERIC)).astype(np.float32) * valid[..., None]
    numeric[:, 0, 0] = np.arange(n)
    arrays["numeric"] = numeric.astype(np.float32)
    arrays["length"] = length
    return arrays


# --------------------------------------------------------------------------------------------
# evaluate

Y = np.array([0, 0, 1, 1])
P = np.array([0.1, 0.6, 0.4, 0.8])


def test_point_metrics_by_hand():
    m = evaluate.point_metrics(Y, P)  # predictions at 0.5: 0 1 0 1
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.75)  # 3 of 4 positive/negative pairs ordered right
    assert m["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # average precision
    expected_log_loss = -np.mean(np.log([0.9, 0.4, 0.4, 0.8]))
    assert m["log_loss"] == pytest.approx(expected_log_loss)
    assert set(m) == {"accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "log_loss"}


def test_point_metrics_threshold_and_edge_cases():
    m = evaluate.point_metrics(Y, P, threshold=0.3)  # predictions: 0 1 1 1
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(1.0)
    assert m["accuracy"] == pytest.approx(0.75) and m["f1"] == pytest.approx(0.8)
    # probabilities of exactly 0 and 1 are clipped: a finite log loss
    m = evaluate.point_metrics([0, 1], [1.0, 0.0])
    assert math.isfinite(m["log_loss"]) and m["log_loss"] > 10
    # one class only: no AUC, the rest still defined
    m = evaluate.point_metrics([0, 0, 0], [0.2, 0.7, 0.1])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert m["accuracy"] == pytest.approx(2 / 3) and m["precision"] == 0 and m["recall"] == 0


def _scored(n=300, seed=0, signal=1.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    prob = 1 / (1 + np.exp(-(signal * (2 * y - 1) + rng.normal(size=n))))
    return y, prob


def test_metrics_with_ci_contains_the_point_value_and_is_seeded():
    y, prob = _scored()
    result = evaluate.metrics_with_ci(y, prob, n_boot=25, seed=7)
    point = evaluate.point_metrics(y, prob)
    assert set(result) == set(point)
    for name, r in result.items():
        assert r["value"] == pytest.approx(point[name])
        assert r["ci_low"] <= r["value"] <= r["ci_high"], name
        assert r["ci_low"] < r["ci_high"], name
    assert evaluate.metrics_with_ci(y, prob, n_boot=25, seed=7) == result
    assert evaluate.metrics_with_ci(y, prob, n_boot=25, seed=8) != result
    # a larger sample gives a narrower interval
    y_big, prob_big = _scored(n=3000)
    big = evaluate.metrics_with_ci(y_big, prob_big, n_boot=25, seed=7)
    assert (big["roc_auc"]["ci_high"] - big["roc_auc"]["ci_low"]
            < result["roc_auc"]["ci_high"] - result["roc_auc"]["ci_low"])


def test_metrics_with_ci_survives_resamples_with_one_class():
    # with one purchase in five sessions many resamples have no purchase: their AUCs are left out
    result = evaluate.metrics_with_ci([0, 0, 0, 0, 1], [0.1, 0.2, 0.3, 0.4, 0.9], n_boot=50)
    assert result["roc_auc"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    assert all(math.isfinite(r["ci_low"]) and math.isfinite(r["ci_high"]) for r in result.values())


def test_bootstrap_weights_are_seeded_resamples():
    w = evaluate.bootstrap_weights(10, 5, seed=1)
    assert w.shape == (5, 10) and (w >= 0).all()
    np.testing.assert_array_equal(w.sum(1), 10)
    np.testing.assert_array_equal(w, np.round(w))
    np.testing.assert_array_equal(w, evaluate.bootstrap_weights(10, 5, seed=1))
    assert not np.array_equal(w, evaluate.bootstrap_weights(10, 5, seed=2))


def test_bootstrap_metrics_equal_the_metrics_of_the_resampled_sessions():
    # each bootstrap row must give exactly what point_metrics gives on the repeated sessions,
    # ties in the scores and probabilities of exactly 0 and 1 included
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    prob = np.round(rng.random(40), 1)
    prob[:3] = [0.0, 1.0, 0.5]
    weights = evaluate.bootstrap_weights(40, 20, seed=2)
    rows = evaluate.weighted_metrics(y, prob, 0.4, weights)
    for b, w in enumerate(weights):
        resampled = np.repeat(np.arange(40), w.astype(int))
        expected = evaluate.point_metrics(y[resampled], prob[resampled], threshold=0.4)
        for name, value in expected.items():
            assert rows[name][b] == pytest.approx(value, abs=1e-12), name
    ones = evaluate.weighted_metrics(Y, P, 0.5, np.ones((1, 4)))
    for name, value in evaluate.point_metrics(Y, P).items():
        assert ones[name][0] == pytest.approx(value), name


def test_paired_auc_difference_identical_models():
    y, prob = _scored(n=200)
    r = evaluate.paired_auc_difference(y, prob, prob.copy(), n_boot=50)
    assert r["difference"] == 0 and r["ci_low"] == 0 and r["ci_high"] == 0
    assert r["p_not_better"] == 1.0


def test_paired_auc_difference_a_clearly_better_model():
    y, good = _scored(n=300, signal=2.0)
    poor = np.random.default_rng(1).random(len(y))
    r = evaluate.paired_auc_difference(y, good, poor, n_boot=100, seed=3)
    expected = evaluate.point_metrics(y, good)["roc_auc"] - evaluate.point_metrics(y, poor)["roc_auc"]
    assert r["difference"] == pytest.approx(expected)
    assert r["difference"] > 0.2
    assert 0 < r["ci_low"] <= r["difference"] <= r["ci_high"]
    assert r["p_not_better"] == 0.0
    # swapped: a negative difference, and a is (almost) never better
    swapped = evaluate.paired_auc_difference(y, poor, good, n_boot=100, seed=3)
    assert swapped["difference"] == pytest.approx(-r["difference"])
    assert swapped["ci_high"] < 0 and swapped["p_not_better"] == 1.0
    assert evaluate.paired_auc_difference(y, good, poor, n_boot=100, seed=3) == r


def test_best_f1_threshold():
    # thresholds 0.1 / 0.4 / 0.6 / 0.8 give F1 2/3, 0.8, 0.5, 2/3
    assert evaluate.best_f1_threshold(Y, P) == pytest.approx(0.4)
    y, prob = _scored(n=200, seed=4)
    best = evaluate.best_f1_threshold(y, prob)
    best_f1 = evaluate.point_metrics(y, prob, threshold=best)["f1"]
    for t in np.linspace(0.05, 0.95, 19):
        assert evaluate.point_metrics(y, prob, threshold=t)["f1"] <= best_f1 + 1e-12


# --------------------------------------------------------------------------------------------
# train: balancing and configurations


def test_balance_weights_give_equal_class_totals():
    labels = np.array([1, 0, 0, 0, 0, 0, 0, 1])
    weights, ratio = train.balance_weights(labels)
    assert weights.dtype == np.float32 and weights.shape == labels.shape
    assert weights[labels == 1].sum() == pytest.approx(weights[labels == 0].sum())
    assert weights.sum() == pytest.approx(len(labels))
    assert ratio == pytest.approx(weights[labels == 1][0] / weights[labels == 0][0])
    assert ratio == pytest.approx(3.0)  # 6 negatives per 2 positives


@pytest.mark.parametrize("ratio", [0.25, 1.0, 3.0, 19.0])
def test_undo_balance_inverts_the_reweighting(ratio):
    p = np.array([0.001, 0.05, 0.3, 0.5, 0.9, 0.999])
    weighted = ratio * p / (ratio * p + 1 - p)
    np.testing.assert_allclose(train.undo_balance(weighted, ratio), p, rtol=1e-9)
    np.testing.assert_allclose(train.undo_balance(p, 1.0), p, rtol=1e-12)
    # stays in [0, 1] at the edges
    edges = train.undo_balance(np.array([0.0, 1.0]), ratio)
    assert edges[0] == 0 and 0.99 < edges[1] <= 1


def test_undo_balance_restores_the_base_rate_of_a_weighted_model():
    # a "model" that is the exact posterior under balanced weights: its corrected mean probability
    # is the true base rate
    labels = np.array([1] * 10 + [0] * 90)
    _, ratio = train.balance_weights(labels)
    assert train.undo_balance(np.array([0.5]), ratio)[0] == pytest.approx(0.1)


def test_sample_configs_seeded_and_first_replaced():
    a = train.sample_configs(5, seed=3)
    assert a == train.sample_configs(5, seed=3)
    assert len(a) == 5
    for config in a:
        assert set(config) == set(train.SEARCH_SPACE)
        for k, v in config.items():
            assert v in train.SEARCH_SPACE[k]
            assert type(v) in (int, float)  # plain Python numbers (JSON, Keras)
    json.dumps(a)
    assert any(train.sample_configs(5, seed=s) != a for s in range(4, 10))
    first = dict(CLASSIC_CONFIG)
    b = train.sample_configs(5, seed=3, first=first)
    assert b[0] == first and b[0] is not first
    assert b[1:] == a[1:]
    assert train.sample_configs(0, seed=3, first=first) == []
    # another space (a baseline's): its settings, drawn the same way
    space = {"C": [0.01, 0.1, 1.0], "penalty": ["l2"]}
    c = train.sample_configs(6, seed=3, space=space)
    assert c == train.sample_configs(6, seed=3, space=space)
    assert all(set(config) == {"C", "penalty"} and config["C"] in space["C"] for config in c)
    assert len({config["C"] for config in c}) > 1


def test_fit_balanced_weights_a_model_and_the_last_step_of_a_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + rng.normal(size=400) > 1.6).astype(int)  # about 1 in 10 positive
    plain = LogisticRegression().fit(x, y)
    weighted = train.fit_balanced(LogisticRegression(), x, y)
    # balanced weights raise the predicted share of positives towards one half
    assert weighted.predict_proba(x)[:, 1].mean() > 0.3 > plain.predict_proba(x)[:, 1].mean()
    weights, _ = train.balance_weights(y)
    expected = LogisticRegression().fit(x, y, sample_weight=weights)
    np.testing.assert_allclose(weighted.coef_, expected.coef_)
    pipeline = train.fit_balanced(make_pipeline(StandardScaler(), LogisticRegression()), x, y)
    expected = make_pipeline(StandardScaler(), LogisticRegression()).fit(
        x, y, logisticregression__sample_weight=weights)
    np.testing.assert_allclose(pipeline[-1].coef_, expected[-1].coef_)


# --------------------------------------------------------------------------------------------
# train: the tf.data pipeline and predictions


@pytest.mark.slow
def test_training_dataset_each_session_once_per_epoch_in_single_length_batches():
    arrays = random_arrays(60, max_len=12, seed=1)
    user = np.random.default_rng(2).normal(size=(60, 3)).astype(np.float32)
    user[:, 0] = np.arange(60)
    labels = (np.arange(60) % 3 == 0).astype(int)
    index = np.random.default_rng(3).permutation(np.arange(5, 60))  # sessions 0..4 left out
    expected_weights, _ = train.balance_weights(labels[index])
    weight_of = dict(zip(index.tolist(), expected_weights.tolist(), strict=True))
    dataset = train.training_dataset(arrays, user, labels, index, batch_size=7, seed=0)
    edges = [4, 8, 12]  # BUCKETS below max_len, then max_len
    orders = []
    for _ in range(2):
        seen = []
        for features, onehot, weights in dataset:
            assert set(features) == {"event_type", "category", "brand", "numeric", "user"}
            width = features["event_type"].shape[1]
            assert width in edges
            lower = ([0] + edges)[edges.index(width)]
            length = (features["event_type"].numpy() != 0).sum(1)
            assert ((length > lower) & (length <= width)).all()
            assert features["numeric"].shape[1] == width and features["numeric"].shape[2] == N_NUMERIC
            assert features["event_type"].shape[0] <= 7
            ids = features["numeric"].numpy()[:, 0, 0].astype(int)
            np.testing.assert_array_equal(features["user"].numpy()[:, 0].astype(int), ids)
            np.testing.assert_array_equal(length, arrays["length"][ids])
            np.testing.assert_array_equal(features["event_type"].numpy(), arrays["event_type"][ids, :width])
            np.testing.assert_array_equal(onehot.numpy().argmax(1), labels[ids])
            np.testing.assert_allclose(onehot.numpy().sum(1), 1.0)
            np.testing.assert_allclose(weights.numpy(), [weight_of[i] for i in ids], rtol=1e-6)
            seen.extend(ids.tolist())
        assert sorted(seen) == sorted(index.tolist())  # each training session exactly once
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled every epoch


@pytest.mark.slow
def test_predict_returns_probabilities_in_the_order_of_index():
    import keras

    keras.utils.set_random_seed(0)
    arrays = random_arrays(30, max_len=7, seed=5)
    user = np.random.default_rng(6).normal(size=(30, 2)).astype(np.float32)
    model = build_sequence_model("lstm", VOCAB, N_NUMERIC, n_user_features=2, units=8, dropout=0.0)
    index = np.random.default_rng(7).permutation(30)[:16]
    prob = train.predict(model, arrays, user, index, ratio=1.0, batch_size=4)
    assert prob.shape == (16,)
    direct = []
    for i in index:
        n = arrays["length"][i]
        features = {k: arrays[k][i:i + 1, :n] for k in train.SEQUENCE_INPUTS}
        features["user"] = user[i:i + 1]
        direct.append(keras.ops.convert_to_numpy(model(features, training=False))[0, 1])
    np.testing.assert_allclose(prob, direct, atol=1e-5)
    # the ratio is applied on top
    corrected = train.predict(model, arrays, user, index, ratio=4.0, batch_size=4)
    np.testing.assert_allclose(corrected, train.undo_balance(prob, 4.0), atol=1e-6)


def _cart_task(n=400, max_len=4, seed=0):
    """Label = a cart event (code 2) is among the session's events. Short sessions (a single
    length bucket) keep the TensorFlow work to a few seconds."""
    arrays = random_arrays(n, max_len=max_len, seed=seed, min_len=2)
    rng = np.random.default_rng(seed + 1)
    valid = arrays["event_type"] != 0
    types = rng.choice([1, 2, 3], size=valid.shape, p=[0.65, 0.2, 0.15])
    arrays["event_type"] = np.where(valid, types, 0).astype(np.int32)
    arrays["numeric"] = 0.1 * arrays["numeric"] * valid[..., None]  # small noise, no row ids
    arrays["numeric"][:, 0, 0] = 0.0
    labels = (arrays["event_type"] == 2).any(1).astype(int)
    counts = np.stack([(arrays["event_type"] == c).sum(1) for c in (1, 2, 3)], 1)
    cut = [int(n * 0.6), int(n * 0.8)]
    return {
        "arrays": arrays,
        "user": None,
        "aggregates": np.column_stack([counts, arrays["length"]]).astype(np.float32),
        "labels": labels,
        "vocab_sizes": VOCAB,
        "train": np.arange(cut[0]),
        "validation": np.arange(cut[0], cut[1]),
        "test": np.arange(cut[1], n),
    }


def _build_logistic(kind, seed, **config):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert kind == "logistic"
    return make_pipeline(StandardScaler(), LogisticRegression(**config))


@pytest.mark.slow
def test_run_study_on_a_cart_task():
    data = _cart_task()
    assert 0.3 < data["labels"].mean() < 0.7
    results, predictions = train.run_study(
        data, ["logistic", "lstm"], n_trials=1, n_seeds=2, epochs=2, patience=1, batch_size=16,
        build_model=build_sequence_model, first_config=CLASSIC_CONFIG,
        build_baseline=_build_logistic, baseline_space={"logistic": {"C": [1.0]}})
    assert set(results) == {"logistic", "lstm"}
    for kind, r in results.items():
        assert r.kind == kind
        assert len(r.val_auc) == 2 and len(r.models) == 2 and len(r.seconds) == 2
        assert len(r.trials) == 1 and r.trials[0][0] == r.best_config
        assert all(0 <= a <= 1 for a in r.val_auc)
    assert results["lstm"].best_config == CLASSIC_CONFIG
    assert results["lstm"].history is not None and "val_auc" in results["lstm"].history
    # one entry per fit (1 trial + 1 more seed); baselines have no epochs
    assert [isinstance(h, bool) for h in results["lstm"].epoch_cap_hits] == [True, True]
    assert results["logistic"].epoch_cap_hits == [None, None]
    assert results["logistic"].history is None
    assert min(results["logistic"].val_auc) > 0.9
    assert min(results["lstm"].val_auc) > 0.7

    assert list(predictions.columns) == ["model", "seed", "split", "session", "prob"]
    assert len(predictions) == 2 * 2 * (len(data["validation"]) + len(data["test"]))
    for (kind, seed, split), group in predictions.groupby(["model", "seed", "split"]):
        assert kind in results and seed in (0, 1)
        np.testing.assert_array_equal(group["session"].to_numpy(), data[split])
        assert group["prob"].between(0, 1).all()
    assert set(predictions["split"]) == {"validation", "test"}
    # the recorded validation AUC is that of the saved predictions
    from sklearn.metrics import roc_auc_score

    for kind, r in results.items():
        for seed in (0, 1):
            rows = predictions[(predictions["model"] == kind) & (predictions["seed"] == seed)
                               & (predictions["split"] == "validation")]
            auc = roc_auc_score(data["labels"][rows["session"]], rows["prob"])
            assert auc == pytest.approx(r.val_auc[seed], abs=1e-6)


@pytest.mark.slow
def test_a_fit_says_whether_it_ran_to_the_epoch_cap():
    data = _cart_task()
    capped = train.fit_sequence_model(build_sequence_model, "rnn", CLASSIC_CONFIG, data, seed=0,
                                      epochs=1, patience=5, batch_size=16)
    assert capped.hit_epoch_cap and len(capped.history["val_auc"]) == 1
    stopped = train.fit_sequence_model(build_sequence_model, "rnn", CLASSIC_CONFIG, data, seed=0,
                                       epochs=60, patience=1, batch_size=16)
    assert not stopped.hit_epoch_cap and len(stopped.history["val_auc"]) < 60


@pytest.mark.slow
def test_run_study_trains_the_models_its_builders_return():
    # the builders record every model they hand out; the study must train and return exactly those
    data = _cart_task(n=120)
    built, baselines = [], []

    def recording_builder(kind, vocab_sizes, n_numeric, n_user_features, **config):
        assert (vocab_sizes, n_numeric, n_user_features) == (VOCAB, N_NUMERIC, 0)
        model = build_sequence_model(kind, vocab_sizes, n_numeric, n_user_features, **{**config, "units": 4})
        built.append((kind, config, model))
        return model

    def recording_baseline(kind, seed, **config):
        model = _build_logistic(kind, seed, **config)
        baselines.append((kind, seed, config, model))
        return model

    first = {"units": 128, "dropout": 0.0, "l2": 0.0, "learning_rate": 3e-3}
    results, _ = train.run_study(
        data, ["logistic", "gru"], n_trials=2, n_seeds=2, epochs=1, patience=1, batch_size=32,
        build_model=recording_builder, first_config=first,
        build_baseline=recording_baseline, baseline_space={"logistic": {"C": [0.1, 1.0, 10.0]}})

    # two trials, then the chosen configuration once more with seed 1
    gru = results["gru"]
    assert [(kind, config) for kind, config, _ in built[:2]] == [("gru", first), ("gru", gru.trials[1][0])]
    chosen = int(np.argmax([auc for _, auc in gru.trials]))
    assert built[2][:2] == ("gru", gru.best_config) == ("gru", gru.trials[chosen][0])
    assert len(built) == 3
    assert gru.models[0] is built[chosen][2] and gru.models[1] is built[2][2]
    for model in gru.models:  # what the builder made: its layers, its head, trained
        layers = {type(layer).__name__ for layer in model.layers}
        assert "GRU" in layers and not layers & {"LSTM", "SimpleRNN", "Conv1D"}
        assert model.get_layer("gru").units == 4
        head = model.get_layer("purchase")
        assert head.units == 2 and head.get_config()["activation"] == "softmax"
        assert model.optimizer.iterations.numpy() > 0

    logistic = results["logistic"]
    assert [(kind, seed) for kind, seed, _, _ in baselines] == [("logistic", 0)] * 2 + [("logistic", 1)]
    chosen = int(np.argmax([auc for _, auc in logistic.trials]))
    assert logistic.models[0] is baselines[chosen][3] and logistic.models[1] is baselines[2][3]
    assert baselines[2][2] == logistic.best_config
    assert hasattr(logistic.models[1][-1], "coef_")  # fitted


def test_run_study_needs_a_baseline_builder_for_its_baselines():
    with pytest.raises(ValueError, match=r"baselines \['logistic'\] need build_baseline"):
        train.run_study(_cart_task(n=40), ["logistic"], 1, 1, 1, 1, 8, build_model=build_sequence_model,
                        baseline_space={"logistic": {"C": [1.0]}})


# --------------------------------------------------------------------------------------------
# notebook 05 shows the model that is trained


def _notebook_cell_defining(name: str):
    """The code cell of notebook 05 that defines ``name`` (a function or a variable), parsed."""
    nb = nbformat.read(NOTEBOOK_05, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or name not in cell.source:
            continue
        tree = ast.parse(cell.source)
        for node in tree.body:
            defined = ([node.name] if isinstance(node, ast.FunctionDef) else
                       [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)])
            if name in defined:
                return cell.source, tree, node
    raise AssertionError(f"{NOTEBOOK_05.name} has no code cell defining {name}")


def test_notebook_05_shows_the_builder_of_utils_models_sequence():
    source, tree, function = _notebook_cell_defining("build_sequence_model")
    assert ast.get_source_segment(source, function) == inspect.getsource(build_sequence_model).rstrip("\n"), (
        "the build_sequence_model cell of notebook 05 and utils/models/sequence.py differ: make them "
        "the same function again")
    assert source.splitlines()[0].startswith("# the same function is in utils/models/sequence.py")
    # the module-level values the function reads are the same in both places
    used = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    for name in used & set(assigned):
        assert ast.literal_eval(assigned[name]) == getattr(sequence, name), name
    assert "EMBEDDING_SIZES" in assigned


def test_notebook_05_hands_its_builders_to_the_study():
    nb = nbformat.read(NOTEBOOK_05, as_version=4)
    calls = [node for cell in nb.cells if cell.cell_type == "code" and "run_study" in cell.source
             for node in ast.walk(ast.parse(cell.source))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "run_study"]
    assert len(calls) == 1
    given = {k.arg: ast.unparse(k.value) for k in calls[0].keywords}
    assert given["build_model"] == "build_sequence_model"
    assert given["build_baseline"] == "build_baseline" and given["baseline_space"] == "baseline_space"
    assert given["first_config"] == "classic_config"
    _, _, classic = _notebook_cell_defining("classic_config")
    assert ast.literal_eval(classic.value) == CLASSIC_CONFIG  # the classic LSTM(128) setting, Adam at 1e-3
    _notebook_cell_defining("build_baseline")


# --------------------------------------------------------------------------------------------
# models


def _model_inputs(arrays, rows, width, user=None):
    features = {k: arrays[k][rows, :width] for k in train.SEQUENCE_INPUTS}
    if user is not None:
        features["user"] = user[rows]
    return features


@pytest.mark.slow
@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
def test_each_kind_gives_softmax_pairs(kind):
    import keras

    keras.utils.set_random_seed(0)
    arrays = random_arrays(5, max_len=6, seed=8)
    model = build_sequence_model(kind, VOCAB, N_NUMERIC, units=8)
    out = keras.ops.convert_to_numpy(model(_model_inputs(arrays, slice(None), 6), training=False))
    assert out.shape == (5, 2)
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-6)
    assert model.output_shape == (None, 2)
    # with per-session user features
    user = np.ones((5, 3), np.float32)
    with_user = build_sequence_model(kind, VOCAB, N_NUMERIC, n_user_features=3, units=8)
    assert "user" in with_user.input
    out = keras.ops.convert_to_numpy(with_user(_model_inputs(arrays, slice(None), 6, user), training=False))
    assert out.shape == (5, 2)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "cnn"])
def test_padding_does_not_change_the_output(kind):
    import keras

    keras.utils.set_random_seed(1)
    arrays = random_arrays(4, max_len=5, seed=9, min_len=2)
    model = build_sequence_model(kind, VOCAB, N_NUMERIC, n_user_features=2, units=8, dropout=0.2)
    user = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    padded = {k: np.concatenate([v, np.zeros((v.shape[0], 7, *v.shape[2:]), v.dtype)], 1)
              for k, v in arrays.items() if k != "length"}
    out = []
    for i in range(4):
        n = arrays["length"][i]
        tight = _model_inputs(arrays, slice(i, i + 1), n, user)
        loose = _model_inputs(padded, slice(i, i + 1), 12, user)
        a = keras.ops.convert_to_numpy(model(tight, training=False))
        b = keras.ops.convert_to_numpy(model(loose, training=False))
        np.testing.assert_allclose(a, b, atol=1e-5)
        out.append(a)
    # the whole padded batch at once gives the same as one at a time
    batch = keras.ops.convert_to_numpy(model(_model_inputs(padded, slice(None), 12, user), training=False))
    np.testing.assert_allclose(batch, np.concatenate(out), atol=1e-5)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown model kind 'transformer'"):
        build_sequence_model("transformer", VOCAB, N_NUMERIC)
