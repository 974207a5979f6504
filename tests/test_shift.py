"""Unit tests of utils.tasks.shift (the splits, the arrays, retraining and the metrics under shift),
utils.models.baseline, utils.data.features.encode_task and utils.data.collect.simulate_again, on
tiny inputs built here; and the proof that notebooks 05 and 14 show the builders that are trained."""

import ast
import inspect
import json

import joblib
import numpy as np
import pandas as pd
import pytest

from tests.helpers import notebook_code, notebook_definition
from tests.test_models_training import VOCAB, random_arrays
from tests.test_sessions_features import make_events
from utils.data import collect, features, sessions
from utils.data.simulate import simulate_shop
from utils.models import baseline, evaluate, sequence, train
from utils.tasks import shift

# --------------------------------------------------------------------------------------------
# splits


def starts(days_and_counts):
    """Session start times: ``count`` sessions at noon of each ``day`` (days after 2024-01-01)."""
    return pd.Series([pd.Timestamp("2024-01-01 12:00", tz="UTC") + pd.Timedelta(days=day)
                      for day, count in days_and_counts for _ in range(count)])


def test_out_of_time_split_by_day():
    start = starts([(day, 2) for day in range(40)])
    part = shift.out_of_time_split(start, early_days=20, validation_days=4, test_days=5, recent_days=3,
                                   seed=1)
    by_day = pd.Series(part.to_numpy(), index=start.dt.day_of_year - 1).groupby(level=0).agg(set)
    assert all(len(parts) == 1 for parts in by_day)  # a day is in one part only
    days = {name: sorted(by_day.index[by_day == {name}]) for name in shift.OUT_OF_TIME}
    assert days["out_of_time_test"] == list(range(35, 40)) and days["recent"] == [32, 33, 34]
    assert days["validation"] == [16, 17, 18, 19] and days["gap"] == list(range(20, 32))
    assert len(days["in_time_test"]) == 5 and set(days["in_time_test"]) <= set(range(16))
    assert sorted(days["train"] + days["in_time_test"]) == list(range(16))  # held out among the training days
    again = shift.out_of_time_split(start, 20, 4, 5, 3, seed=1)
    other = shift.out_of_time_split(start, 20, 4, 5, 3, seed=2)
    assert again.equals(part) and not other.equals(part)  # seeded


def test_the_in_time_days_lie_among_the_days_trained_on():
    start = starts([(day, 1) for day in range(60)])
    part = shift.out_of_time_split(start, early_days=40, validation_days=4, test_days=5, recent_days=3,
                                   train_days=10, seed=0).to_numpy()
    day = np.arange(60)
    trained, in_time = day[part == "train"], day[part == "in_time_test"]
    window = set(range(36 - 15, 36))  # the 10 training and 5 in-time days before the validation days
    assert set(in_time) <= window and set(trained) == window - set(in_time) and len(in_time) == 5
    assert set(part[:36 - 15]) == {"gap"}  # older days are neither trained on nor tested


def test_out_of_time_split_without_room_is_a_clear_error():
    start = starts([(day, 1) for day in range(20)])
    with pytest.raises(ValueError, match=r"the data spans 20 days: too few for an early period of 15 days"):
        shift.out_of_time_split(start, early_days=15, validation_days=3, test_days=4, recent_days=2)
    with pytest.raises(ValueError, match=r"at least one training day"):
        shift.out_of_time_split(start, early_days=8, validation_days=4, test_days=4, recent_days=2)


def test_last_days_keeps_the_latest_days_of_the_mask():
    start = starts([(day, 1) for day in range(10)])
    mask = np.arange(10) < 8  # days 0..7
    np.testing.assert_array_equal(shift.last_days(start, mask, 3), (np.arange(10) >= 5) & mask)
    np.testing.assert_array_equal(shift.last_days(start, mask, None), mask)
    np.testing.assert_array_equal(shift.last_days(start, mask, 100), mask)


def test_equal_size_keeps_whole_sessions_and_as_many_in_both():
    a = np.repeat(np.arange(10), 3)  # ten sessions of three decision points
    b = np.repeat(np.arange(100, 104), 2)  # four sessions of two
    keep_a, keep_b = shift.equal_size(a, b, seed=0)
    assert keep_b.all() and len(np.unique(a[keep_a])) == 4
    assert all(keep_a[a == s].all() or not keep_a[a == s].any() for s in np.unique(a))  # whole sessions
    assert not np.array_equal(keep_a, shift.equal_size(a, b, seed=1)[0])


# --------------------------------------------------------------------------------------------
# the arrays the models read, and notebook 05's way of building them


def tiny_task(n_sessions=40, max_k=4, seed=0):
    """Decision points and sequences shaped like notebook 04's, with a split and two user columns."""
    arrays = random_arrays(n_sessions, max_k, seed=seed)
    rng = np.random.default_rng(seed)
    rows = [(s, k) for s in range(n_sessions) for k in range(1, arrays["length"][s] + 1)]
    frame = pd.DataFrame(rows, columns=["session", "k"])
    split = np.where(np.arange(n_sessions) < n_sessions // 2, "train",
                     np.where(np.arange(n_sessions) < 3 * n_sessions // 4, "validation", "test"))
    label = (rng.random(n_sessions) < 0.4).astype(int)
    label[:2], label[n_sessions // 2], label[-1] = 1, 1, 1  # both classes in every split
    frame["split"] = split[frame["session"]]
    frame["label"] = label[frame["session"]]
    frame["user_id"] = frame["session"] % 7
    frame["agg_n_events"] = frame["k"].astype(float)
    user = rng.normal(5, 2, size=(n_sessions, 2))
    frame["user_prior_sessions"], frame["user_age"] = user[frame["session"], 0], user[frame["session"], 1]
    return frame, arrays


def test_purchase_data_is_what_notebook_05_builds():
    frame, arrays = tiny_task()
    meta = {"aggregate_columns": ["agg_n_events"], "user_columns": ["user_prior_sessions", "user_age"],
            "vocab_sizes": VOCAB}

    class Sequences(dict):  # np.load(...npz) reads like this: .files and [name]
        files = property(lambda self: list(self))

    cell = next(source for source in notebook_code("05_rnn_vs_lstm.ipynb") if 'data = {' in source)
    namespace = {"np": np, "pd": pd, "points": frame.assign(start=pd.Timestamp("2024-01-01", tz="UTC")),
                 "sequences": Sequences(arrays), "meta": meta, "search_days": None}
    exec(cell, namespace)  # notebook 05's own cell
    expected = namespace["data"]
    split = frame["split"].to_numpy()
    scaler = shift.user_scaler(frame, meta["user_columns"], split == "train")
    data = shift.purchase_data(frame, arrays, meta["aggregate_columns"], meta["user_columns"], VOCAB, scaler,
                               {name: split == name for name in ("train", "validation", "test")})
    for name in ("user", "point_session", "point_k", "aggregates", "labels", "train", "validation", "test"):
        np.testing.assert_array_equal(data[name], expected[name], err_msg=name)
    for name in arrays:
        np.testing.assert_array_equal(data["arrays"][name], expected["arrays"][name])
    assert data["vocab_sizes"] == expected["vocab_sizes"]


def test_user_scaler_fits_on_the_masked_sessions_only():
    frame, _ = tiny_task()
    fit = (frame["split"] == "train").to_numpy()
    mean, spread = shift.user_scaler(frame, ["user_age"], fit)
    first = frame[(frame["k"] == 1) & fit]
    assert mean[0] == pytest.approx(first["user_age"].mean(), rel=1e-5)
    assert spread[0] == pytest.approx(first["user_age"].std(ddof=0) + 1e-6, rel=1e-4)
    with pytest.raises(ValueError, match="marks no decision point"):
        shift.user_scaler(frame, ["user_age"], np.zeros(len(frame), bool))


def test_purchase_data_refuses_sequences_of_other_sessions_and_missing_columns():
    frame, arrays = tiny_task()
    scaler = (np.zeros(1, np.float32), np.ones(1, np.float32))
    with pytest.raises(ValueError, match=r"the sequences hold 39 sessions but the decision points start 40"):
        fewer = {k: v[:-1] for k, v in arrays.items()}
        shift.purchase_data(frame, fewer, [], ["user_age"], VOCAB, scaler, {})
    with pytest.raises(Exception, match=r"agg_missing"):
        shift.purchase_data(frame, arrays, ["agg_missing"], ["user_age"], VOCAB, scaler, {})


# --------------------------------------------------------------------------------------------
# retraining and scoring saved models


def tiny_data(seed=0):
    frame, arrays = tiny_task(n_sessions=60, seed=seed)
    split = frame["split"].to_numpy()
    columns = ["user_prior_sessions", "user_age"]
    scaler = shift.user_scaler(frame, columns, split == "train")
    return frame, shift.purchase_data(frame, arrays, ["agg_n_events"], columns, VOCAB, scaler,
                                      {name: split == name for name in ("train", "validation", "test")})


def test_retrain_fits_each_model_and_seed_with_its_setting_and_scores_each_set():
    _, data = tiny_data()
    built = []

    def recording_baseline(kind, seed, **config):
        built.append((kind, seed, config))
        return baseline.build_baseline(kind, seed, **config)

    result = shift.retrain(data, {"logistic": {"C": 0.5}}, n_seeds=2, epochs=1, patience=1,
                           build_model=None, build_baseline=recording_baseline,
                           score={"test": data["test"], "validation": data["validation"]})
    assert built == [("logistic", 0, {"C": 0.5}), ("logistic", 1, {"C": 0.5})]
    assert result.prob["test"]["logistic"].shape == (2, len(data["test"]))
    assert result.prob["validation"]["logistic"].shape == (2, len(data["validation"]))
    assert [set(f) for f in result.fits["logistic"]] == [{"seconds", "validation_auc", "hit_epoch_cap"}] * 2
    # the same probabilities train's own functions give
    model = train.fit_baseline(baseline.build_baseline, "logistic", {"C": 0.5}, data, 0).model
    _, ratio = train.balance_weights(data["labels"][data["train"]])
    np.testing.assert_allclose(result.prob["test"]["logistic"][0],
                               train.predict_baseline(model, data, data["test"], ratio))


@pytest.mark.slow
def test_retrain_trains_sequence_models_with_the_given_builder():
    _, data = tiny_data()
    kinds = []

    def builder(kind, *args, **config):
        kinds.append((kind, config))
        return sequence.build_sequence_model(kind, *args, **config)

    config = {"units": 8, "n_layers": 1, "dropout": 0.0, "learning_rate": 1e-2, "batch_size": 16}
    result = shift.retrain(data, {"gru": config}, n_seeds=1, epochs=2, patience=1, build_model=builder,
                           build_baseline=None, score={"test": data["test"]})
    assert kinds == [("gru", {k: v for k, v in config.items() if k != "batch_size"})]
    prob = result.prob["test"]["gru"]
    assert prob.shape == (1, len(data["test"])) and ((prob > 0) & (prob < 1)).all()


def test_score_saved_reads_every_seed_of_a_study(tmp_path):
    _, data = tiny_data()
    (tmp_path / "logistic").mkdir()
    models = [train.fit_baseline(baseline.build_baseline, "logistic", {"C": c}, data, seed).model
              for seed, c in enumerate((0.1, 10.0))]
    for seed, model in enumerate(models):
        joblib.dump(model, tmp_path / "logistic" / f"seed{seed}.joblib")
    train_labels = data["labels"][data["train"]]
    scored = shift.score_saved(tmp_path, {"logistic": 2}, data, train_labels, {"test": data["test"]})
    _, ratio = train.balance_weights(train_labels)
    expected = [train.predict_baseline(model, data, data["test"], ratio) for model in models]
    np.testing.assert_allclose(scored["test"]["logistic"], expected)


# --------------------------------------------------------------------------------------------
# metrics under shift


def scored_set(n_shoppers=60, per_shopper=4, signal=2.0, seeds=2, seed=0, shoppers_from=0, rate=0.3):
    """A test set whose every model ranks with ``signal`` (0: noise); ``n_shoppers`` shoppers."""
    rng = np.random.default_rng(seed)
    n = n_shoppers * per_shopper
    y = (rng.random(n) < rate).astype(int)
    y[:2] = [0, 1]
    prob = {kind: 1 / (1 + np.exp(-(signal * strength * (y - 0.5) + rng.normal(size=(seeds, n)))))
            for kind, strength in (("good", 1.0), ("weak", 0.5))}
    return shift.TestSet(y, shoppers_from + np.repeat(np.arange(n_shoppers), per_shopper), prob)


def test_the_same_set_in_and_out_drops_by_exactly_zero_in_every_replicate():
    inside = scored_set()
    findings, samples = shift.shift_metrics(inside, inside, None, n_boot=50, seed=0)
    for kind in ("good", "weak"):
        for metric in ("roc_auc", "pr_auc"):
            before, after = samples[kind][metric]
            np.testing.assert_array_equal(before, after)  # a shopper in both sets is drawn for both
            assert findings[kind][f"{metric}_drop"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0}
        assert findings[kind]["ece_in"] == findings[kind]["ece_out"]
        assert np.isnan(findings[kind]["ece_out_recalibrated"])  # no recent slice


def test_a_shift_to_noise_is_a_drop_beyond_the_noise_and_values_are_means_over_seeds():
    inside, shifted = scored_set(seed=1), scored_set(signal=0.0, seed=2, shoppers_from=1000)
    findings, _ = shift.shift_metrics(inside, shifted, None, n_boot=200, seed=0)
    good = findings["good"]
    assert evaluate.compare_to_zero(good["roc_auc_drop"]) == "above"
    expected_in = np.mean([evaluate.weighted_auc(inside.labels, p, np.ones((1, len(p))))[0]
                           for p in inside.prob["good"]])
    assert good["roc_auc_in"]["value"] == pytest.approx(expected_in)
    difference = good["roc_auc_in"]["value"] - good["roc_auc_out"]["value"]
    assert good["roc_auc_drop"]["value"] == pytest.approx(difference)
    assert 0.4 < good["roc_auc_out"]["value"] < 0.6


def test_platt_on_a_recent_slice_repairs_a_shifted_base_rate():
    """Shoppers buy three times as often after the shift; the models still predict the old rate."""
    rng = np.random.default_rng(3)

    def shifted_rate(n, seed_shift):
        score = rng.normal(size=n)
        y = (rng.random(n) < 1 / (1 + np.exp(-(score - 0.5)))).astype(int)  # the new, higher rate
        prob = 1 / (1 + np.exp(-(score - 2.0)))  # what the models learnt before: the old rate
        return shift.TestSet(y, np.arange(n) + seed_shift, {"model": prob[None, :]})

    recent, later = shifted_rate(4000, 0), shifted_rate(4000, 10_000)
    inside = shift.TestSet(later.labels, later.shoppers, later.prob)
    findings, _ = shift.shift_metrics(inside, later, recent, n_boot=20, seed=0)
    row = findings["model"]
    assert row["ece_out"] > 0.1 and row["ece_out_recalibrated"] < 0.03
    one_class = shift.TestSet(np.zeros(5, int), np.arange(5), {"model": np.full((1, 5), 0.1)})
    assert np.isnan(shift.recalibrated_ece(one_class, later, "model"))


def test_paired_difference_and_drop_differences_use_the_same_replicates():
    inside, shifted = scored_set(seed=4), scored_set(signal=1.0, seed=5, shoppers_from=500)
    findings, samples = shift.shift_metrics(inside, shifted, None, n_boot=200, seed=0)
    itself = shift.paired_difference(findings, samples, "good", "good")
    assert itself["in"] == {"value": 0.0, "ci_low": 0.0, "ci_high": 0.0} and itself["change"]["value"] == 0.0
    better = shift.paired_difference(findings, samples, "good", "weak")
    assert evaluate.compare_to_zero(better["in"]) == "above" and better["detectable_out"] > 0
    assert itself["p_out"] == 1.0
    same, same_samples = shift.shift_metrics(inside, inside, None, n_boot=200, seed=0)
    assert shift.paired_difference(same, same_samples, "good", "weak")["p_out"] < 0.05
    assert better["change"]["value"] == pytest.approx(better["out"]["value"] - better["in"]["value"])
    least, others = shift.drop_differences(findings, samples)
    drops = {k: findings[k]["roc_auc_drop"]["value"] for k in findings}
    assert least == min(drops, key=drops.get) and set(others) == set(drops) - {least}
    other = next(iter(others))
    assert others[other]["value"] == pytest.approx(drops[other] - drops[least])


def test_a_test_set_needs_one_label_shopper_and_probability_per_point():
    with pytest.raises(ValueError, match=r"one label, shopper and probability per decision point"):
        shift.TestSet(np.zeros(3), np.arange(3), {"a": np.zeros((1, 4))})
    inside = scored_set()
    other = shift.TestSet(inside.labels, inside.shoppers, {"other": inside.prob["good"]})
    with pytest.raises(ValueError, match=r"same models; only one holds \['good', 'other', 'weak'\]"):
        shift.shift_metrics(inside, other, None, 10, 0)
    with pytest.raises(ValueError, match=r"good: 2 seeds in one test set, 1 in the other"):
        fewer = {k: p[:1] for k, p in inside.prob.items()}
        shift.shift_metrics(inside, shift.TestSet(inside.labels, inside.shoppers, fewer), None, 10, 0)


# --------------------------------------------------------------------------------------------
# one way from an event log to model inputs


def shop_events(days=12, n_users=300, seed=0):
    shop = simulate_shop(n_users=n_users, n_days=days, start="2019-10-01", seed=seed)
    return shop


def test_encode_task_composes_the_steps_notebook_04_took():
    shop = shop_events()
    events = shop.events
    table, inputs = sessions.purchase_task(events)
    table["split"] = sessions.time_split(table, 3, 3)
    is_train = (table["split"] == "train").to_numpy()
    encoder = features.SequenceEncoder(max_len=4, min_count=2)
    encoder.fit(inputs[is_train[inputs["session"].to_numpy()]])
    task = features.encode_task(events, table, inputs, encoder, 4, shop.users, is_train)
    # the cells of notebook 04 before encode_task
    points, point_inputs = sessions.decision_points(table, inputs, 4)
    arrays = encoder.transform(inputs[inputs.groupby("session").cumcount() < 4], len(table))
    person = pd.concat([sessions.user_history(table, inputs, events),
                        features.demographics(table, shop.users, is_train)], axis=1)
    aggregates = features.session_aggregates(points, point_inputs, encoder)
    frame = pd.concat([points, aggregates.add_prefix("agg_"),
                       person.iloc[points["session"]].reset_index(drop=True).add_prefix("user_")], axis=1)
    pd.testing.assert_frame_equal(task.frame, frame)
    for name in arrays:
        np.testing.assert_array_equal(task.arrays[name], arrays[name])
    assert task.aggregate_columns == ["agg_" + c for c in aggregates.columns]
    assert task.user_columns == ["user_" + c for c in person.columns]


def test_encode_task_gives_a_new_log_the_user_columns_of_the_fitted_task():
    events = make_events([("a", 1, 0, "view", 11, 100, "x", 5.0), ("b", 2, 10, "view", 12, 100, "x", 4.0)])
    users = pd.DataFrame({"user_id": [1, 2], "age": [30, 40], "gender": ["F", "M"],
                          "region": ["east", "west"]})
    table, inputs = sessions.purchase_task(events)
    encoder = features.SequenceEncoder(max_len=3, min_count=1).fit(inputs)
    columns = ["user_prior_sessions", "user_age", "user_gender_F", "user_region_east", "user_region_north"]
    task = features.encode_task(events, table, inputs, encoder, 3, users, user_columns=columns)
    assert task.user_columns == columns  # west and M, unknown to the fitted task, are dropped
    assert task.frame["user_region_north"].tolist() == [0.0, 0.0]  # a level this log lacks
    assert task.frame["user_region_east"].tolist() == [1.0, 0.0]


# --------------------------------------------------------------------------------------------
# the same shop again, with a promotion


@pytest.fixture
def interim_shop(tmp_path, monkeypatch):
    """A small simulated shop written to data/interim as notebook 01 writes it, ids pseudonymised."""
    from utils.core import crypto
    from utils.data import privacy

    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    monkeypatch.setenv("BEAUTY_PSEUDONYM_KEY", "ab" * 32)
    tables, truth, params = collect.collect("simulated", n_users=400, n_days=20, start="2019-10-01", seed=2)
    key = crypto.secret_key("pseudonym")
    tables, truth = privacy.pseudonymise_tables(tables, key), privacy.pseudonymise_tables(truth, key)
    collect.write_interim(tables, truth, "simulated", {**params, "ids_pseudonymised": True})
    return tables


def test_simulate_again_makes_the_interim_shop_again_with_the_same_pseudonyms(interim_shop):
    tables, truth = collect.simulate_again()
    for name in ("events", "users", "calendar"):
        pd.testing.assert_frame_equal(tables[name], collect.load_interim(name), check_categorical=False)
    changed, _ = collect.simulate_again(promotion_from="2019-10-15", promotion_discount=0.25)
    assert (changed["calendar"]["discount"].iloc[14:] == 0.25).all()
    assert set(changed["events"]["user_id"]) <= set(interim_shop["users"]["user_id"])  # the same pseudonyms
    with pytest.raises(TypeError, match=r"simulate_shop has no argument\(s\) \['promotion'\]"):
        collect.simulate_again(promotion=0.2)


def test_simulate_again_needs_a_simulated_source(interim_shop):
    path = collect.interim_path("events").parent / "source.json"
    info = json.loads(path.read_text())
    path.write_text(json.dumps({**info, "source": "rees46"}))
    with pytest.raises(ValueError, match=r"holds the source 'rees46': only a simulated shop"):
        collect.simulate_again()


# --------------------------------------------------------------------------------------------
# the notebooks show the builders that are trained


def test_notebook_05_and_utils_models_baseline_define_the_same_baseline():
    shown, _ = notebook_definition("05_rnn_vs_lstm.ipynb", "build_baseline")
    assert shown == inspect.getsource(baseline.build_baseline).rstrip("\n"), (
        "build_baseline in notebooks/05_rnn_vs_lstm.ipynb differs from utils/models/baseline.py; change both")


@pytest.mark.parametrize(("name", "module"), [("build_sequence_model", sequence),
                                              ("build_baseline", baseline)])
def test_notebook_14_shows_the_builders_it_retrains(name, module):
    shown, first_line = notebook_definition("14_generalisation.ipynb", name)
    assert shown == inspect.getsource(getattr(module, name)).rstrip("\n"), (
        f"{name} in notebooks/14_generalisation.ipynb differs from {module.__name__}; change both")
    module_file = module.__name__.replace(".", "/") + ".py"
    assert first_line.startswith(f"# the same function is in {module_file}")
    calls = " ".join(notebook_code("14_generalisation.ipynb"))
    assert "build_sequence_model, build_baseline" in calls  # handed to shift.retrain
    if module is sequence:  # the module-level value the function reads is the same too
        source = next(s for s in notebook_code("14_generalisation.ipynb") if "def build_sequence_model(" in s)
        sizes = next(node.value for node in ast.parse(source).body if isinstance(node, ast.Assign)
                     and node.targets[0].id == "EMBEDDING_SIZES")
        assert ast.literal_eval(sizes) == sequence.EMBEDDING_SIZES
