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
CLASSIC_CONFIG = {"units": 128, "n_layers": 1, "dropout": 0.0, "learning_rate": 1e-3, "batch_size": 512}
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


def test_the_search_space_covers_units_depth_dropout_learning_rate_and_batch_size():
    assert set(train.SEARCH_SPACE) == {"units", "n_layers", "dropout", "learning_rate", "batch_size"}
    assert train.SEARCH_SPACE["n_layers"] == [1, 2]
    for name, value in CLASSIC_CONFIG.items():  # the classic setting is one of the draws
        assert value in train.SEARCH_SPACE[name], name
    json.dumps(train.SEARCH_SPACE)


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


def live_data(arrays, labels_by_session, user=None) -> dict:
    """A data dict of decision points: session s has points k = 1 .. its length, all with the
    session's label (what utils.data.sessions.decision_points makes)."""
    length = arrays["length"]
    session = np.repeat(np.arange(len(length)), length)
    k = np.arange(len(session)) - np.repeat(np.cumsum(length) - length, length) + 1
    return {"arrays": arrays, "user": user, "point_session": session, "point_k": k,
            "labels": labels_by_session[session], "vocab_sizes": VOCAB}


@pytest.mark.slow
def test_training_dataset_each_session_once_per_epoch_with_its_label_after_every_event():
    arrays = random_arrays(60, max_len=12, seed=1)
    user = np.random.default_rng(2).normal(size=(60, 3)).astype(np.float32)
    user[:, 0] = np.arange(60)
    data = live_data(arrays, (np.arange(60) % 3 == 0).astype(int), user)
    points = np.flatnonzero(data["point_session"] >= 5)  # sessions 0..4 left out
    # each point's class-balancing weight, over the mean number of points in a batch of 7 sessions
    point_weights = train.balance_weights(data["labels"][points])[0] / (7 * len(points) / 55)
    weight_of = dict(zip(data["point_session"][points].tolist(), point_weights.tolist(), strict=True))
    dataset = train.training_dataset(data, points, batch_size=7, seed=0)
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
            # the session's label after every event, weighted on its events and 0 on padding
            assert onehot.shape == (len(ids), width, 2) and weights.shape == (len(ids), width)
            labels = data["labels"][np.searchsorted(data["point_session"], ids)]
            np.testing.assert_array_equal(onehot.numpy().argmax(2), np.repeat(labels[:, None], width, 1))
            on_event = np.arange(width)[None, :] < length[:, None]
            expected = on_event * np.array([weight_of[i] for i in ids])[:, None]
            np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-6)
            seen.extend(ids.tolist())
        assert sorted(seen) == list(range(5, 60))  # each training session exactly once
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled every epoch
    # one event, one point: the events of an epoch weigh what the points do, a batch about 1 on average
    total = sum(float(w.numpy().sum()) for _, _, w in dataset)
    assert total == pytest.approx(point_weights.sum(), rel=1e-5)
    assert total / len(list(dataset)) == pytest.approx(1.0, rel=0.3)


def test_training_points_must_hold_whole_sessions():
    data = live_data(random_arrays(10, max_len=5, seed=3, min_len=3), np.arange(10) % 2)
    some = np.flatnonzero(data["point_k"] <= 2)  # only the first two points of each session
    with pytest.raises(ValueError, match="every decision point of their sessions"):
        train.training_dataset(data, some, batch_size=4, seed=0)


@pytest.mark.slow
def test_predict_gives_each_decision_point_what_the_model_says_after_its_first_k_events():
    import keras

    keras.utils.set_random_seed(0)
    arrays = random_arrays(30, max_len=7, seed=5)
    user = np.random.default_rng(6).normal(size=(30, 2)).astype(np.float32)
    data = live_data(arrays, np.arange(30) % 2, user)
    model = build_sequence_model("lstm", VOCAB, N_NUMERIC, n_user_features=2, units=8)
    points = np.random.default_rng(7).permutation(len(data["point_k"]))[:40]
    prob = train.predict(model, data, points, ratio=1.0, batch_size=4)
    assert prob.shape == (40,)
    direct = []
    for point in points:  # the model run on the first k events alone
        i, k = data["point_session"][point], data["point_k"][point]
        features = {name: arrays[name][i:i + 1, :k] for name in train.SEQUENCE_INPUTS}
        features["user"] = user[i:i + 1]
        direct.append(keras.ops.convert_to_numpy(model(features, training=False))[0, -1, 1])
    np.testing.assert_allclose(prob, direct, atol=1e-5)
    # the ratio is applied on top
    corrected = train.predict(model, data, points, ratio=4.0, batch_size=4)
    np.testing.assert_allclose(corrected, train.undo_balance(prob, 4.0), atol=1e-6)


def _cart_task(n=400, max_len=4, seed=0):
    """Label = the session's first event is a cart (code 2), known at every decision point.
    Short sessions (a single length bucket) keep the TensorFlow work to a few seconds."""
    arrays = random_arrays(n, max_len=max_len, seed=seed, min_len=2)
    rng = np.random.default_rng(seed + 1)
    valid = arrays["event_type"] != 0
    types = rng.choice([1, 2, 3], size=valid.shape, p=[0.5, 0.3, 0.2])
    arrays["event_type"] = np.where(valid, types, 0).astype(np.int32)
    arrays["numeric"] = 0.1 * arrays["numeric"] * valid[..., None]  # small noise, no row ids
    arrays["numeric"][:, 0, 0] = 0.0
    data = live_data(arrays, (arrays["event_type"][:, 0] == 2).astype(int))
    session, k = data["point_session"], data["point_k"]
    seen = np.arange(max_len)[None, :] < k[:, None]
    types = arrays["event_type"][session]
    counts = np.stack([((types == c) & seen).sum(1) for c in (1, 2, 3)], 1)
    data["aggregates"] = np.column_stack([counts, k, types[:, 0] == 2]).astype(np.float32)
    cut = np.searchsorted(session, [int(n * 0.6), int(n * 0.8)])  # split by session
    points = np.arange(len(session))
    data.update(train=points[:cut[0]], validation=points[cut[0]:cut[1]], test=points[cut[1]:])
    return data


def _build_logistic(kind, seed, **config):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert kind == "logistic"
    return make_pipeline(StandardScaler(), LogisticRegression(**config))


SMALL_CONFIG = {**CLASSIC_CONFIG, "units": 32, "learning_rate": 1e-2, "batch_size": 128}


@pytest.mark.slow
def test_run_study_on_a_cart_task(tmp_path):
    data = _cart_task()
    assert 0.2 < data["labels"].mean() < 0.5
    results = train.run_study(
        data, ["logistic", "lstm"], n_trials=1, n_seeds=2, epochs=8, patience=2, state_dir=tmp_path,
        build_model=build_sequence_model, first_config=SMALL_CONFIG,
        build_baseline=_build_logistic, baseline_space={"logistic": {"C": [1.0]}})
    assert set(results) == {"logistic", "lstm"}
    for kind, r in results.items():
        assert r.kind == kind
        assert len(r.val_auc) == 2 and len(r.seconds) == 2
        assert len(r.trials) == 1 and r.trials[0]["config"] == r.best_config
        assert all(0 <= a <= 1 for a in r.val_auc)
    assert results["lstm"].best_config == SMALL_CONFIG
    assert results["lstm"].history is not None and "val_auc" in results["lstm"].history
    # one entry per fit (1 trial + 2 seeds); baselines have no epochs
    assert [isinstance(h, bool) for h in results["lstm"].epoch_cap_hits] == [True, True, True]
    assert results["logistic"].epoch_cap_hits == [None, None, None]
    assert results["logistic"].history is None
    assert min(results["logistic"].val_auc) > 0.9
    assert min(results["lstm"].val_auc) > 0.8

    predictions = train.read_predictions(tmp_path, results)
    assert list(predictions.columns) == ["model", "seed", "split", "point", "prob"]
    assert len(predictions) == 2 * 2 * (len(data["validation"]) + len(data["test"]))
    for (kind, seed, split), group in predictions.groupby(["model", "seed", "split"]):
        assert kind in results and seed in (0, 1)
        np.testing.assert_array_equal(group["point"].to_numpy(), data[split])
        assert group["prob"].between(0, 1).all()
    assert set(predictions["split"]) == {"validation", "test"}
    # the recorded validation AUC is that of the saved predictions
    from sklearn.metrics import roc_auc_score

    for kind, r in results.items():
        for seed in (0, 1):
            rows = predictions[(predictions["model"] == kind) & (predictions["seed"] == seed)
                               & (predictions["split"] == "validation")]
            auc = roc_auc_score(data["labels"][rows["point"]], rows["prob"])
            assert auc == pytest.approx(r.val_auc[seed], abs=1e-6)
    # the saved models are the trained ones
    lstm = train.load_model(tmp_path, "lstm", 1)
    again = train.predict(lstm, data, data["test"], train.balance_weights(data["labels"][data["train"]])[1])
    seed1 = predictions[(predictions["model"] == "lstm") & (predictions["seed"] == 1)
                        & (predictions["split"] == "test")]
    np.testing.assert_allclose(again, seed1["prob"], atol=1e-5)
    assert hasattr(train.load_model(tmp_path, "logistic", 0)[-1], "coef_")


@pytest.mark.slow
def test_a_rerun_of_the_study_skips_what_is_done(tmp_path):
    data = _cart_task(n=120)
    built = []

    def builder(kind, *args, **config):
        built.append(config)
        return build_sequence_model(kind, *args, **{**config, "units": 4})

    kwargs = dict(state_dir=tmp_path, build_model=builder, first_config=SMALL_CONFIG)
    first = train.run_study(data, ["gru"], n_trials=2, n_seeds=1, epochs=1, patience=1, **kwargs)
    assert len(built) == 3  # two trials, one seed
    again = train.run_study(data, ["gru"], n_trials=2, n_seeds=1, epochs=1, patience=1, **kwargs)
    assert len(built) == 3  # nothing trained again
    assert again["gru"].val_auc == first["gru"].val_auc and again["gru"].trials == first["gru"].trials
    more = train.run_study(data, ["gru"], n_trials=3, n_seeds=2, epochs=1, patience=1, **kwargs)
    assert len(more["gru"].trials) == 3 and len(more["gru"].val_auc) == 2
    # one more trial, one more seed, and seed 0 again only if the third trial won
    assert len(built) == 5 + (more["gru"].best_config != first["gru"].best_config)
    # the search in pieces tries what one run of three trials tries
    whole = train.run_study(data, ["gru"], n_trials=3, n_seeds=1, epochs=1, patience=1,
                            **{**kwargs, "state_dir": tmp_path / "whole"})
    assert [t["config"] for t in whole["gru"].trials] == [t["config"] for t in more["gru"].trials]


def test_a_trial_left_running_by_an_interrupted_run_is_run_again(tmp_path):
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    data = _cart_task(n=60)
    baseline = {"logistic": {"C": [0.01, 0.1, 1.0, 10.0, 100.0]}}
    kwargs = dict(build_model=build_sequence_model, build_baseline=_build_logistic, baseline_space=baseline)
    whole = train.run_study(data, ["logistic"], 2, 1, 1, 1, state_dir=tmp_path / "whole", **kwargs)
    # an interrupted run: its first trial finished, its second never did
    folder = tmp_path / "cut" / "logistic"
    folder.mkdir(parents=True)
    storage = JournalStorage(JournalFileBackend(str(folder / "search.journal")))
    cut = optuna.create_study(study_name="logistic", storage=storage, direction="maximize")
    cut.sampler = optuna.samplers.TPESampler(seed=0)
    choices = baseline["logistic"]["C"]
    cut.optimize(lambda trial: 0.5 + 0 * trial.suggest_categorical("C", choices), n_trials=1)
    cut.ask()  # left running
    resumed = train.run_study(data, ["logistic"], 2, 1, 1, 1, state_dir=tmp_path / "cut", **kwargs)
    configs = [t["config"] for t in whole["logistic"].trials]
    assert [t["config"] for t in resumed["logistic"].trials] == configs
    states = [t.state.name for t in optuna.load_study(study_name="logistic", storage=storage).trials]
    assert states == ["COMPLETE", "FAIL", "COMPLETE"]


@pytest.mark.slow
def test_a_fit_says_whether_it_ran_to_the_epoch_cap():
    data = _cart_task()
    capped = train.fit_sequence_model(build_sequence_model, "rnn", SMALL_CONFIG, data, seed=0,
                                      epochs=1, patience=5)
    assert capped.hit_epoch_cap and len(capped.history["val_auc"]) == 1
    stopped = train.fit_sequence_model(build_sequence_model, "rnn", SMALL_CONFIG, data, seed=0,
                                       epochs=60, patience=1)
    assert not stopped.hit_epoch_cap and len(stopped.history["val_auc"]) < 60


@pytest.mark.slow
def test_run_study_trains_the_models_its_builders_return(tmp_path):
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

    first = {**SMALL_CONFIG, "learning_rate": 3e-3}
    results = train.run_study(
        data, ["logistic", "gru"], n_trials=2, n_seeds=2, epochs=1, patience=1, state_dir=tmp_path,
        build_model=recording_builder, first_config=first,
        build_baseline=recording_baseline, baseline_space={"logistic": {"C": [0.1, 1.0, 10.0]}})

    # two trials (the first is `first` without its batch size, the second a draw of the space),
    # then the chosen configuration with seeds 0 and 1
    gru = results["gru"]
    model_config = {k: v for k, v in first.items() if k != "batch_size"}
    assert [(kind, config) for kind, config, _ in built[:1]] == [("gru", model_config)]
    drawn = gru.trials[1]["config"]
    assert all(drawn[name] in choices for name, choices in train.SEARCH_SPACE.items())
    chosen = {k: v for k, v in gru.best_config.items() if k != "batch_size"}
    assert [config for _, config, _ in built[2:]] == [chosen, chosen] and len(built) == 4
    for _, _, model in built[2:]:  # what the builder made: its layers, its head, trained
        layers = {type(layer).__name__ for layer in model.layers}
        assert "GRU" in layers and not layers & {"LSTM", "SimpleRNN", "Conv1D"}
        assert model.get_layer("gru1").units == 4
        head = model.get_layer("purchase")
        assert head.units == 2 and head.get_config()["activation"] == "softmax"
        assert model.optimizer.iterations.numpy() > 0

    logistic = results["logistic"]
    assert [(kind, seed) for kind, seed, _, _ in baselines] == [("logistic", 0)] * 3 + [("logistic", 1)]
    assert baselines[2][2] == baselines[3][2] == logistic.best_config
    assert logistic.best_config in [t["config"] for t in logistic.trials]


def test_run_study_needs_a_baseline_builder_for_its_baselines(tmp_path):
    with pytest.raises(ValueError, match=r"baselines \['logistic'\] need build_baseline"):
        train.run_study(_cart_task(n=40), ["logistic"], 1, 1, 1, 1, state_dir=tmp_path,
                        build_model=build_sequence_model, baseline_space={"logistic": {"C": [1.0]}})


def test_the_state_key_changes_with_the_data_the_code_and_the_settings(tmp_path):
    data = tmp_path / "points.parquet"
    data.write_bytes(b"abc")
    key = train.state_key([data], build_sequence_model, {"C": [1.0]}, epochs=3)
    assert key == train.state_key([data], build_sequence_model, {"C": [1.0]}, epochs=3)
    assert key != train.state_key([data], build_sequence_model, {"C": [1.0]}, epochs=4)
    assert key != train.state_key([data], _build_logistic, {"C": [1.0]}, epochs=3)
    assert key != train.state_key([data], build_sequence_model, {"C": [2.0]}, epochs=3)
    data.write_bytes(b"abd")
    assert key != train.state_key([data], build_sequence_model, {"C": [1.0]}, epochs=3)


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
def test_each_kind_gives_softmax_pairs_after_every_event(kind):
    import keras

    keras.utils.set_random_seed(0)
    arrays = random_arrays(5, max_len=6, seed=8)
    model = build_sequence_model(kind, VOCAB, N_NUMERIC, units=8)
    out = keras.ops.convert_to_numpy(model(_model_inputs(arrays, slice(None), 6), training=False))
    assert out.shape == (5, 6, 2)
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)
    assert model.output_shape == (None, None, 2)
    # with per-session user features, and two layers
    user = np.ones((5, 3), np.float32)
    with_user = build_sequence_model(kind, VOCAB, N_NUMERIC, n_user_features=3, units=8, n_layers=2)
    assert "user" in with_user.input
    readers = [layer for layer in with_user.layers if layer.name.startswith(("rnn", "lstm", "gru", "conv"))]
    assert len(readers) == 2
    out = keras.ops.convert_to_numpy(with_user(_model_inputs(arrays, slice(None), 6, user), training=False))
    assert out.shape == (5, 6, 2)


@pytest.mark.slow
@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
@pytest.mark.parametrize("n_layers", [1, 2])
def test_the_answer_after_an_event_never_depends_on_later_events(kind, n_layers):
    import keras

    keras.utils.set_random_seed(2)
    arrays = random_arrays(3, max_len=6, seed=10, min_len=6)
    model = build_sequence_model(kind, VOCAB, N_NUMERIC, n_user_features=2, units=8, n_layers=n_layers)
    user = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    before = keras.ops.convert_to_numpy(model(_model_inputs(arrays, slice(None), 6, user), training=False))
    changed = {k: v.copy() for k, v in arrays.items()}
    changed["category"][:, 3] = 5 - changed["category"][:, 3] % 5
    changed["numeric"][:, 3] += 3.0
    after = keras.ops.convert_to_numpy(model(_model_inputs(changed, slice(None), 6, user), training=False))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)  # events 1-3 do not see event 4
    assert not np.allclose(after[:, 3], before[:, 3])


@pytest.mark.slow
@pytest.mark.parametrize("kind", SEQUENCE_KINDS)
def test_padding_does_not_change_the_output(kind):
    import keras

    keras.utils.set_random_seed(1)
    arrays = random_arrays(4, max_len=5, seed=9, min_len=2)
    model = build_sequence_model(kind, VOCAB, N_NUMERIC, n_user_features=2, units=8, dropout=0.2)
    user = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    padded = {k: np.concatenate([v, np.zeros((v.shape[0], 7, *v.shape[2:]), v.dtype)], 1)
              for k, v in arrays.items() if k != "length"}
    batch = keras.ops.convert_to_numpy(model(_model_inputs(padded, slice(None), 12, user), training=False))
    for i in range(4):
        n = arrays["length"][i]
        tight = keras.ops.convert_to_numpy(model(_model_inputs(arrays, slice(i, i + 1), n, user)))
        loose = keras.ops.convert_to_numpy(model(_model_inputs(padded, slice(i, i + 1), 12, user)))
        np.testing.assert_allclose(tight[0], loose[0, :n], atol=1e-5)
        np.testing.assert_allclose(tight[0], batch[i, :n], atol=1e-5)  # a padded batch gives the same


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown model kind 'transformer'"):
        build_sequence_model("transformer", VOCAB, N_NUMERIC)
