"""Next-item recommendation: the metric formula, the split, history exclusion, the loss masking,
the baselines, a tiny training run, the model notebook 07 shows being the one that is trained,
the same code on a file the project has never seen, the S3-Rec file reader and its errors, the
epoch budget with early stopping, SASRec, session-parallel batches, the paired bootstrap and the
benchmark command on an unseen file."""

import inspect
import json
import math

import numpy as np
import pandas as pd
import pytest

from tests.helpers import keyword_of_calls, notebook_definition
from utils.core import config
from utils.data.schema import ValidationError
from utils.data.sources import load_amazon_beauty
from utils.models import recommender
from utils.tasks import recommend


class FixedScores:
    """A stand-in model that gives every user the same scores."""

    def __init__(self, scores):
        self.scores = np.asarray(scores, dtype=np.float32)

    def score(self, sequences):
        return np.tile(self.scores, (len(sequences), 1))


def no_history(n_users, n_items):
    return recommend.history_matrix([np.array([], dtype=np.int32)] * n_users, n_items)


# --- the metric formula --------------------------------------------------------------------


def test_metrics_of_hand_made_ranks():
    m = recommend.ranking_metrics(np.array([0, 9, 10, 25]))
    assert m["HR@5"] == pytest.approx(1 / 4)
    assert m["HR@10"] == pytest.approx(2 / 4)  # rank 9 is in the top 10, rank 10 is not
    assert m["HR@20"] == pytest.approx(3 / 4)
    assert m["NDCG@5"] == pytest.approx(1 / 4)
    assert m["NDCG@10"] == pytest.approx((1 + 1 / math.log2(11)) / 4)
    assert m["NDCG@20"] == pytest.approx((1 + 1 / math.log2(11) + 1 / math.log2(12)) / 4)
    assert m["MRR"] == pytest.approx((1 + 1 / 10 + 1 / 11 + 1 / 26) / 4)


def test_rank_exactly_9_counts_and_10_does_not():
    nine, ten = recommend.ranking_metrics([9]), recommend.ranking_metrics([10])
    assert nine["HR@10"] == 1 and nine["NDCG@10"] == pytest.approx(1 / math.log2(11))
    assert ten["HR@10"] == 0 and ten["NDCG@10"] == 0 and ten["HR@20"] == 1


def test_rank_counts_higher_items_and_ties_against_the_target():
    scores = np.array([[0.9, 0.5, 0.5, 0.1, 0.5]])  # items 1..5
    assert recommend.target_ranks(scores, np.array([1]), no_history(1, 5))[0] == 0
    assert recommend.target_ranks(scores, np.array([4]), no_history(1, 5))[0] == 4
    # item 2 ties with items 3 and 5: both count as ranked before it, after item 1
    assert recommend.target_ranks(scores, np.array([2]), no_history(1, 5))[0] == 3


def test_history_items_are_excluded_but_never_the_target():
    scores = np.array([[0.9, 0.8, 0.7, 0.1]])
    history = recommend.history_matrix([np.array([1, 3])], 4)
    # target 2: item 1 (history) no longer counts, item 3 scored lower anyway
    assert recommend.target_ranks(scores, np.array([2]), history)[0] == 0
    # target 1 repeats a history item: it is still ranked (first), not excluded
    assert recommend.target_ranks(scores, np.array([1]), history)[0] == 0
    # target 3 repeats a history item: item 2 (not in history) stays above it
    assert recommend.target_ranks(scores, np.array([3]), history)[0] == 1


def test_nan_scores_are_an_error_not_a_perfect_rank():
    with pytest.raises(ValueError, match="NaN"):
        recommend.target_ranks(np.array([[np.nan, 0.5]]), np.array([1]), no_history(1, 2))


def test_target_ranks_leaves_the_scores_untouched():
    scores = np.array([[0.9, 0.8, 0.7]], dtype=np.float32)
    recommend.target_ranks(scores, np.array([3]), recommend.history_matrix([np.array([1])], 3))
    assert np.isfinite(scores).all()


def test_intervals_surround_the_metrics_and_a_model_equals_itself():
    rng = np.random.default_rng(0)
    ranks = {"a": rng.integers(0, 30, 400), "b": rng.integers(0, 60, 400)}
    table = recommend.metrics_with_ci(ranks, n_boot=200)
    for name, model_ranks in ranks.items():
        plain = recommend.ranking_metrics(model_ranks)
        for metric in ("HR@10", "NDCG@10", "MRR"):
            cell = table[name][metric]
            assert cell["value"] == pytest.approx(plain[metric])
            assert cell["ci_low"] < cell["value"] < cell["ci_high"]
    same = recommend.paired_difference(ranks["a"], ranks["a"], n_boot=50)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0
    better = recommend.paired_difference(ranks["a"], ranks["b"], "HR@10", n_boot=200)
    assert better["ci_low"] > 0 and better["p_not_better"] == 0  # ranks of a are half of b's


# --- split and history mask ----------------------------------------------------------------


def test_leave_one_out_split():
    split = recommend.leave_one_out({7: [30, 10, 20, 40, 50], 8: [10, 30, 10], 9: [10, 20]})
    assert split.dropped_users == 1 and list(split.users) == [7, 8]
    assert list(split.items) == [10, 20, 30, 40, 50]  # item index i is items[i - 1]
    assert [list(split.items[s - 1]) for s in split.train] == [[30, 10, 20], [10]]
    assert list(split.items[split.valid - 1]) == [40, 30]
    assert list(split.items[split.test - 1]) == [50, 10]
    # validation sees the training prefix; test sees it plus the validation item
    assert [list(s) for s in split.inputs("valid")] == [list(s) for s in split.train]
    assert [list(split.items[s - 1]) for s in split.inputs("test")] == [[30, 10, 20, 40],
                                                                        [10, 30]]
    assert list(split.item_index([40, 10])) == [4, 1]


def test_history_matrix_marks_each_users_items_once():
    history = recommend.history_matrix([np.array([1, 3, 1]), np.array([2])], 4)
    assert history.toarray().tolist() == [[1, 0, 1, 0], [0, 1, 0, 0]]


def test_evaluation_excludes_each_users_own_history():
    # user 0 has seen item 1 and 2; user 1 has seen item 3. Both targets are item 4.
    split = recommend.Split(users=np.array([0, 1]), items=np.arange(1, 5),
                         train=[np.array([1, 2]), np.array([3])],
                         valid=np.array([4, 4]), test=np.array([4, 4]))
    model = FixedScores([0.9, 0.8, 0.7, 0.6])
    ranks = recommend.rank_all(model, split, "valid", batch_size=1)
    assert list(ranks) == [1, 2]  # user 0: only item 3 above; user 1: items 1 and 2 above
    # for test, the validation item joins the history but the target (also item 4) stays
    assert list(recommend.rank_all(model, split, "test")) == [1, 2]


# --- baselines -----------------------------------------------------------------------------


def test_most_popular_and_markov_baselines():
    # training prefixes: [1, 2] four times and [4, 4, 4, 4, 4]; items 5 and 9 are held out
    sequences = {u: [1, 2, 5, 9] for u in range(4)} | {9: [4, 4, 4, 4, 4, 5, 9]}
    split = recommend.leave_one_out(sequences)
    popular = recommend.MostPopular().fit(split)
    assert np.argmax(popular.counts) + 1 == split.item_index([4])[0]  # 5 times, 1 and 2: 4
    markov = recommend.Markov().fit(split)
    scores = markov.score([split.item_index([1])])
    assert np.argmax(scores[0]) + 1 == split.item_index([2])[0]  # 2 always followed 1
    # an item never seen as a predecessor falls back on popularity
    unseen = markov.score([split.item_index([9])])[0]
    assert np.argmax(unseen) == np.argmax(popular.counts)


def test_the_markov_blend_adds_the_chains_log_probability_to_the_logits():
    sequences = {u: [1, 2, 5, 9] for u in range(4)} | {9: [4, 4, 4, 4, 4, 5, 9]}
    split = recommend.leave_one_out(sequences)
    markov = recommend.Markov().fit(split)
    model = FixedScores(np.linspace(1.0, 0.0, split.n_items))  # prefers low item indices
    after_1 = [split.item_index([1])]
    alone = recommend.MarkovBlend(model, markov, weight=0.0)
    assert np.array_equal(alone.score(after_1), model.score(after_1))
    blend = recommend.MarkovBlend(model, markov, weight=1.0, smoothing=1.0)
    chain = markov.transitions[after_1[0] - 1].toarray() + markov.popularity
    assert np.allclose(blend.score(after_1), model.score(after_1) + np.log(chain))
    assert np.isfinite(blend.score(after_1)).all()  # add-one: no item gets log(0)
    assert np.argmax(blend.score(after_1)[0]) + 1 == split.item_index([2])[0]  # 2 always followed 1


def test_the_blend_weight_is_chosen_on_validation_only():
    split = recommend.leave_one_out(cycle_sequences(n_users=40, n_items=15))
    markov = recommend.Markov().fit(split)
    noise = FixedScores(np.random.default_rng(0).normal(size=split.n_items))
    blend = recommend.MarkovBlend(noise, markov)
    split.test[:] = 1  # the test targets are never read: spoiling them changes nothing
    valid = blend.choose_weight(split)
    assert blend.weight > 0  # on a deterministic chain the chain's signal helps
    assert valid == recommend.evaluate(blend, split, "valid")
    best = max(recommend.MarkovBlend.WEIGHTS, key=lambda w: recommend.evaluate(
        recommend.MarkovBlend(noise, markov, weight=w), split, "valid")["NDCG@10"])
    assert valid["NDCG@10"] == recommend.evaluate(
        recommend.MarkovBlend(noise, markov, weight=best), split, "valid")["NDCG@10"]


def test_markov_is_perfect_on_a_deterministic_chain():
    sequences = {u: [(u + t) % 20 + 1 for t in range(6)] for u in range(40)}
    split = recommend.leave_one_out(sequences)
    result = recommend.evaluate(recommend.Markov().fit(split), split, "test")
    assert result["HR@5"] == 1.0 and result["NDCG@10"] == 1.0 and result["MRR"] == 1.0


# --- recurrent models ----------------------------------------------------------------------


def test_loss_uses_real_positions_only():
    model = recommender.build_recommender(n_items=6, cell="gru", dim=4, dropout=0.0)
    encoder, scores = recommend.model_parts(model)
    items = np.array([[0, 0, 1, 2, 3], [0, 4, 5, 6, 1]], dtype=np.int32)
    targets = np.array([[0, 0, 2, 3, 4], [0, 5, 6, 1, 2]], dtype=np.int32)
    loss = float(recommend.masked_loss(encoder, scores, items, targets))

    # more padding in front changes nothing
    padded = np.pad(items, ((0, 0), (3, 0))), np.pad(targets, ((0, 0), (3, 0)))
    assert float(recommend.masked_loss(encoder, scores, *padded)) == pytest.approx(loss, rel=1e-5)

    # the same number by hand from the whole model's scores: mean cross-entropy over the 7 real
    # positions
    real = targets > 0
    logits = model(items).numpy()[real]
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    by_hand = -log_probs[np.arange(real.sum()), targets[real] - 1].mean()
    assert loss == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.parametrize("tied", [True, False])
def test_model_scores_every_item(tied):
    model = recommender.build_recommender(n_items=6, cell="lstm", dim=4, tied=tied)
    scores = recommend.NextItemScorer(model).score([np.array([1, 2]), np.array([3])])
    assert scores.shape == (2, 6) and np.isfinite(scores).all()
    # the scorer gives the whole model's scores after the last item
    assert np.allclose(scores[0], model(np.array([[1, 2]], dtype=np.int32)).numpy()[0, -1],
                       atol=1e-5)
    # tied: the output reuses the embeddings, so only the bias adds weights
    output = model.get_layer("scores")
    assert (output.bias.shape == (6,)) if tied else (output.kernel.shape == (4, 6))


def test_a_builder_without_the_named_layers_is_refused_with_the_fix():
    import keras

    def unnamed(n_items, **kwargs):
        items = keras.Input((None,), dtype="int32")
        return keras.Model(items, keras.layers.Embedding(n_items + 1, 4)(items))

    split = recommend.leave_one_out({u: [1, 2, 3, 4] for u in range(4)})
    with pytest.raises(ValueError, match="named 'state'.*utils/models/recommender.py"):
        recommend.train_recommender(split, build_model=unnamed, epochs=1)
    with pytest.raises(ValueError, match="cell must be one of gru, lstm, rnn"):
        recommend.train_recommender(split, cell="transformer", epochs=1)


def test_training_pipeline_trims_padding_and_keeps_every_target():
    split = recommend.leave_one_out({u: list(range(1, 4 + u % 5)) for u in range(30)})
    data = recommend.training_dataset(split, max_len=50, batch_size=4, seed=0)
    batches = list(data.as_numpy_iterator())
    n_targets = sum(int((y > 0).sum()) for _, y in batches)
    assert n_targets == sum(len(s) - 1 for s in split.train)
    assert all(x.shape == y.shape and (y[:, 0] > 0).any() for x, y in batches)


@pytest.mark.slow
def test_tiny_gru_learns_a_sequential_pattern_and_beats_most_popular():
    # each user walks a fixed cycle of 40 items from a random start: the next item is
    # determined by the last one, which popularity cannot know
    rng = np.random.default_rng(0)
    cycle = rng.permutation(40) + 1
    sequences = {u: [int(cycle[(s + t) % 40]) for t in range(8)]
                 for u, s in enumerate(rng.integers(0, 40, 400))}
    split = recommend.leave_one_out(sequences)
    result = recommend.train_recommender(split, cell="gru", dim=16, dropout=0.0,
                                         learning_rate=0.02, batch_size=64, epochs=15, patience=3,
                                         seed=0)
    gru = recommend.evaluate(result.scorer, split, "test")
    popular = recommend.evaluate(recommend.MostPopular().fit(split), split, "test")
    assert gru["NDCG@10"] > popular["NDCG@10"] + 0.3
    assert gru["HR@10"] > 0.8
    assert result.history and result.best_epoch >= 1
    assert all("valid_NDCG@10" in h for h in result.history)


# --- the model notebook 07 shows is the model that is trained ------------------------------


NOTEBOOK_07 = "07_recommendation.ipynb"


@pytest.mark.parametrize("name", ["TiedScores", "build_recommender", "ReversePositions", "KeysToAttend",
                                  "build_sasrec"])
def test_notebook_07_defines_the_library_model(name):
    library = inspect.getsource(getattr(recommender, name)).rstrip("\n")
    shown, first_line = notebook_definition(NOTEBOOK_07, name)
    assert shown == library, (
        f"{name} in notebooks/{NOTEBOOK_07} differs from utils/models/recommender.py; change both "
        "the same way")
    assert first_line.startswith("# the same code is in utils/models/recommender.py")


def test_notebook_07_trains_with_its_builder():
    given = keyword_of_calls(NOTEBOOK_07, "train_recommender", "build_model")
    assert given and set(given) == {"build_recommender"}, given


def test_training_builds_its_model_with_the_builder_it_is_given():
    calls, built = [], []

    def recording_builder(n_items, **kwargs):
        calls.append((n_items, kwargs))
        built.append(recommender.build_recommender(n_items, **kwargs))
        return built[-1]

    split = recommend.leave_one_out({u: [1 + (u + t) % 7 for t in range(5)] for u in range(12)})
    result = recommend.train_recommender(split, build_model=recording_builder, cell="lstm", dim=4,
                                         dropout=0.1, tied=False, batch_size=8, epochs=1)
    assert calls == [(split.n_items, {"cell": "lstm", "dim": 4, "dropout": 0.1, "tied": False})]
    assert result.model is built[0] and result.scorer.model is built[0]  # trained and ranked
    assert len(result.history) == 1


# --- bad input ------------------------------------------------------------------------------


def test_shop_purchases_without_a_column_name_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    interim = config.data_dir("interim")
    pd.DataFrame({"event_time": [1], "event_type": ["purchase"], "product_id": [1]}).to_parquet(
        interim / "clean_events.parquet")
    pd.DataFrame({"product_id": [1]}).to_parquet(interim / "products.parquet")
    with pytest.raises(ValidationError, match=r"clean_events.parquet has no column\(s\) "
                                              r"\['user_id'\].*Rerun the collection and cleaning"):
        recommend.load_shop_purchases()


# --- a dataset of the same format that the project has never seen -------------------------


def test_same_code_on_an_unseen_file_in_beauty_format(tmp_path):
    rng = np.random.default_rng(3)
    lines = []
    for user in range(1, 61):
        start = int(rng.integers(0, 25))
        items = [1000 + (start + 2 * t) % 50 for t in range(int(rng.integers(4, 9)))]
        lines.append(" ".join(map(str, [user, *items])))
    path = tmp_path / "Toys.txt"
    path.write_text("\n".join(lines) + "\n")

    data = load_amazon_beauty(path)
    split = recommend.leave_one_out(data)
    assert split.n_users == 60 and split.dropped_users == 0
    assert set(split.items) <= set(range(1000, 1050))
    for model in (recommend.MostPopular(), recommend.Markov()):
        result = recommend.evaluate(model.fit(split), split, "test")
        assert set(result) == {"HR@5", "HR@10", "HR@20", "NDCG@5", "NDCG@10", "NDCG@20", "MRR"}
        assert all(0 <= v <= 1 for v in result.values())
    # the walk is deterministic (+2 each step), so the Markov chain gets most targets right
    assert recommend.evaluate(recommend.Markov().fit(split), split, "test")["HR@5"] > 0.8


def test_resume_keeps_runs_of_the_same_settings_only(tmp_path):
    path = tmp_path / "benchmark_recsys.json"
    assert recommend.previous_runs(path, {"seeds": 3}) == []
    path.write_text(json.dumps({"settings": {"seeds": 3}, "runs": [{"model": "GRU", "seed": 0}]}))
    assert recommend.previous_runs(path, {"seeds": 3}) == [{"model": "GRU", "seed": 0}]
    with pytest.raises(ValueError, match="other settings.*without --resume"):
        recommend.previous_runs(path, {"seeds": 5})


def test_a_resume_with_another_model_adds_it_to_the_table(tmp_path):
    dataset = write_s3rec(tmp_path / "Toys.txt", cycle_sequences(n_users=30, n_items=12))
    out = tmp_path / "toys.json"
    options = dict(seeds=1, epochs=1, search=1, n_boot=50, out=out)
    first = recommend.run_benchmark(dataset, models=("Markov",), **options)
    second = recommend.run_benchmark(dataset, models=("MostPopular",), resume=True, **options)
    assert set(first["summary"]) == {"Markov"} and set(second["summary"]) == {"Markov", "MostPopular"}
    assert second["summary"]["Markov"] == first["summary"]["Markov"]  # kept, not run again
    assert json.loads(out.read_text())["settings"]["models"] == ["Markov", "MostPopular"]


def test_the_table_shows_intervals_against_both_references_and_the_published_rows():
    cell = {"mean": 0.05, "std": 0.002}
    row = {"HR@10": cell, "NDCG@10": cell, "MRR": cell, "valid_NDCG@10": 0.051, "epochs": cell,
           "best_epoch": cell, "train_s": 600.0}
    baseline = row | {"epochs": None, "best_epoch": None, "train_s": 0.2}
    interval = {"NDCG@10": {"difference": 0.006, "ci_low": 0.004, "ci_high": 0.008}}
    paired = {"references": {"markov": "Markov", "best_recurrent": "GRU"}, "n_bootstrap": 2000,
              "vs_markov": {"GRU": interval}, "vs_best_recurrent": {"Markov": interval}}
    published = {"SASRec": {"HR@10": 0.0605, "NDCG@10": None, "source": "a paper"}}
    table = recommend.benchmark_table({"GRU": row, "Markov": baseline}, paired, published)
    assert list(table.index) == ["GRU", "Markov", "SASRec (published)"]
    assert table.loc["GRU", "NDCG@10 vs Markov [95%]"] == "+0.0060 [+0.0040, +0.0080]"
    assert table.loc["GRU", "NDCG@10 vs GRU [95%]"] == "-"  # the reference itself
    assert table.loc["Markov", "epochs"] == "-" and table.loc["GRU", "epochs"] == "0.1 ± 0.0"
    assert table.loc["SASRec (published)", "NDCG@10"] == "n/a"
    assert table.loc["SASRec (published)", "source"] == "a paper"
    assert list(table.columns)[-1] == "source"
    text = recommend.format_table({"GRU": row}, paired, published)
    assert "2000 resamples" in text and "not run here" in text


# --- any dataset: the file reader -----------------------------------------------------------


def write_s3rec(path, sequences: dict) -> str:
    path.write_text("".join(f"{user} {' '.join(map(str, items))}\n" for user, items in sequences.items()))
    return str(path)


def cycle_sequences(n_users=60, n_items=20, length=(4, 9), seed=0, offset=1000):
    """Shoppers walking a fixed cycle of items from random starts: the next item is determined
    by the last one."""
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(n_items) + offset
    return {user: [int(cycle[(start + t) % n_items]) for t in range(int(rng.integers(*length)))]
            for user, start in enumerate(rng.integers(0, n_items, n_users), 1)}


def test_read_sequences_reads_any_file_in_the_s3rec_format(tmp_path):
    path = write_s3rec(tmp_path / "Toys.txt", {7: [5, 3, 9], 2: [1, 1, 4, 8]})
    assert recommend.read_sequences(path) == {7: [5, 3, 9], 2: [1, 1, 4, 8]}


@pytest.mark.parametrize("text, line, message", [
    ("1 10 11 12\n2 10 x 12\n", 2, "'x' is not a non-negative integer id"),
    ("1 10 11 12\n2 10 -3 12\n", 2, "'-3' is not a non-negative integer id"),
    ("1 10 11 12\n\n3 10 11\n", 3, "user 3 has 2 item\\(s\\); every line needs at least 3"),
    ("1 10 11 12\n1 13 14 15\n", 2, "user 1 already has line 1"),
    ("1 10 11 12\n2\n", 2, "no item ids"),
])
def test_a_bad_sequence_file_is_refused_naming_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "shop.txt"
    path.write_text(text)
    with pytest.raises(ValidationError, match=rf"shop.txt, line {line}: {message}"):
        recommend.read_sequences(path)


def test_an_empty_or_missing_sequence_file_is_refused(tmp_path):
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValidationError, match="empty.txt: no shopper"):
        recommend.read_sequences(tmp_path / "empty.txt")
    with pytest.raises(FileNotFoundError, match="absent.txt does not exist.*S3-Rec format"):
        recommend.read_sequences(tmp_path / "absent.txt")


def test_the_benchmark_command_names_the_bad_line_and_exits_2(tmp_path, capsys):
    path = tmp_path / "shop.txt"
    path.write_text("1 10 11 12\n2 10 11\n")
    assert recommend.main(["--benchmark", "--dataset", str(path), "--out", str(tmp_path / "o.json")]) == 2
    assert "shop.txt, line 2: user 2 has 2 item(s)" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


# --- budgets that load cannot change --------------------------------------------------------


def test_early_stopping_stops_on_patience_and_restores_the_best_epoch(monkeypatch):
    split = recommend.leave_one_out(cycle_sequences())
    scripted = iter([0.1, 0.3, 0.2, 0.25, 0.3, 0.9, 0.9])  # best at epoch 2; 0.3 again is no gain
    weights_seen = []

    def scripted_evaluate(scorer, split, stage="valid", batch_size=2048):
        assert stage == "valid"  # training never reads the test targets
        weights_seen.append(scorer.model.get_weights())
        return {"NDCG@10": next(scripted)}

    monkeypatch.setattr(recommend, "evaluate", scripted_evaluate)
    result = recommend.train_recommender(split, cell="gru", dim=8, batch_size=16, epochs=10,
                                         patience=3)
    assert len(result.history) == 5 and result.stopped_early  # epochs 3, 4 and 5 without a gain
    assert result.best_epoch == 2
    kept = result.model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(kept, weights_seen[1], strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(kept, weights_seen[-1], strict=True))


def test_the_epoch_budget_does_not_depend_on_time(monkeypatch):
    split = recommend.leave_one_out(cycle_sequences())
    kwargs = dict(cell="gru", dim=8, batch_size=16, epochs=3, patience=10, seed=1)
    idle = recommend.train_recommender(split, **kwargs)
    clock = iter(range(0, 10**9, 10**6))  # every reading of the clock is 11 days later
    monkeypatch.setattr(recommend.time, "perf_counter", lambda: float(next(clock)))
    busy = recommend.train_recommender(split, **kwargs)
    assert len(busy.history) == len(idle.history) == 3 and not busy.stopped_early
    assert busy.history[-1]["seconds"] >= 10**6  # the time is recorded ...
    for a, b in zip(idle.history, busy.history, strict=True):  # ... and changes nothing else
        assert {k: v for k, v in a.items() if k != "seconds"} == pytest.approx(
            {k: v for k, v in b.items() if k != "seconds"}, rel=1e-4)
    for function in (recommend.train_recommender, recommend.run_benchmark):
        assert not [p for p in inspect.signature(function).parameters if "budget" in p or "time" in p]


# --- SASRec ---------------------------------------------------------------------------------


def test_sasrec_is_causal_and_ignores_the_padding():
    model = recommender.build_sasrec(n_items=12, dim=8, dropout=0.0, max_len=6, blocks=2)
    items = np.array([[0, 0, 3, 5, 7, 2], [0, 0, 0, 0, 4, 9]], dtype=np.int32)
    scores = model(items).numpy()
    changed = items.copy()
    changed[:, 4] = [11, 1]  # a later item changes ...
    after = model(changed).numpy()
    assert np.allclose(after[:, :4], scores[:, :4], atol=1e-6)  # ... nothing before it
    assert not np.allclose(after[:, 4:], scores[:, 4:], atol=1e-4)  # ... but its own position on
    # less padding in front changes nothing at the real positions: positions count from the end
    assert np.allclose(model(items[:, -4:]).numpy()[0], scores[0, -4:], atol=1e-5)
    # the scorer gives the model's scores after the last item
    scorer = recommend.NextItemScorer(model, max_len=6)
    assert np.allclose(scorer.score([np.array([3, 5, 7, 2])])[0], scores[0, -1], atol=1e-5)


def test_sasrec_learns_a_deterministic_next_item_task():
    split = recommend.leave_one_out(cycle_sequences(n_users=300, n_items=30, length=(6, 10)))
    result = recommend.train_recommender(split, cell="sasrec", dim=16, dropout=0.0, max_len=10,
                                         learning_rate=0.01, batch_size=32, epochs=8, patience=8)
    assert any(layer.name == "attention_0" for layer in result.model.layers)
    sasrec = recommend.evaluate(result.scorer, split, "test")
    popular = recommend.evaluate(recommend.MostPopular().fit(split), split, "test")
    assert sasrec["NDCG@10"] > popular["NDCG@10"] + 0.3 and sasrec["HR@10"] > 0.8


# --- session-parallel mini-batches ----------------------------------------------------------


def test_session_parallel_batches_cover_every_transition_once():
    rng = np.random.default_rng(0)
    # globally distinct items, so that every transition is a distinct pair
    sequences = [np.arange(int(n)) + 100 * k for k, n in enumerate(rng.integers(1, 9, 40))]
    expected = sorted((int(a), int(b)) for s in sequences for a, b in zip(s[:-1], s[1:], strict=True))
    for seed in (0, 1):
        items, targets, reset = recommend.session_parallel_batches(sequences, lanes=6, seed=seed)
        assert items.shape == targets.shape == reset.shape and items.shape[1] == 6
        real = targets > 0
        assert sorted(zip(items[real].tolist(), targets[real].tolist(), strict=True)) == expected
        assert (items[~real] == 0).all()
        # a lane reads one sequence after another: within a sequence the target is the next input,
        # and every sequence with a transition starts exactly once, with a reset
        continues = real[:-1] & real[1:] & ~reset[1:]
        assert (items[1:][continues] == targets[:-1][continues]).all()
        assert reset.sum() == sum(len(s) > 1 for s in sequences)
        assert (real[reset]).all()
    # fewer sequences than lanes: one lane each
    items, _, _ = recommend.session_parallel_batches([np.array([1, 2, 3])], lanes=8)
    assert items.shape == (2, 1)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_session_parallel_training_runs_and_needs_a_recurrent_model(cell):
    split = recommend.leave_one_out(cycle_sequences())
    result = recommend.train_recommender(split, cell=cell, dim=8, batch_size=8, epochs=1,
                                         batching="session_parallel")
    assert len(result.history) == 1 and np.isfinite(result.history[0]["loss"])
    if cell == "gru":
        with pytest.raises(ValueError, match="session-parallel batches need a recurrent model"):
            recommend.train_recommender(split, cell="sasrec", dim=8, epochs=1,
                                        batching="session_parallel")


# --- paired intervals and the benchmark -----------------------------------------------------


def test_the_paired_bootstrap_interval_covers_the_true_difference():
    # per-user values of two models that share most of their noise: a is b plus 0.05 on average
    rng = np.random.default_rng(0)
    covered, widths = 0, []
    for trial in range(60):
        b = rng.random(800)
        a = b + rng.normal(0.05, 0.2, 800)
        d = recommend.paired_bootstrap(a, b, n_boot=2000, seed=trial)
        covered += d["ci_low"] <= 0.05 <= d["ci_high"]
        widths.append(d["ci_high"] - d["ci_low"])
        assert d["ci_low"] < d["difference"] < d["ci_high"]
    assert covered >= 51  # about 95% of 60
    # the width of a paired interval: 2 x 1.96 x 0.2 / sqrt(800), not that of the unpaired values
    assert np.mean(widths) == pytest.approx(2 * 1.96 * 0.2 / np.sqrt(800), rel=0.1)
    same = recommend.paired_bootstrap(b, b, n_boot=100)
    assert same["difference"] == same["ci_low"] == same["ci_high"] == 0 and same["p_not_better"] == 1


def test_the_best_recurrent_reference_is_chosen_on_validation_and_seeds_are_averaged():
    def run(model, valid, ranks):
        return {"model": model, "valid": {"NDCG@10": valid}, "test_ranks": np.array(ranks)}

    runs = [run("Markov", 0.1, [5, 5, 5, 5]),
            run("GRU", 0.3, [0, 0, 50, 50]), run("GRU", 0.3, [50, 50, 0, 0]),  # better on validation
            run("LSTM", 0.2, [0, 0, 0, 0])]  # better on test: it is not the reference
    paired = recommend.paired_comparisons(runs, n_boot=200)
    assert paired["references"] == {"markov": "Markov", "best_recurrent": "GRU"}
    gru = paired["vs_markov"]["GRU"]["HR@10"]
    assert gru["difference"] == pytest.approx(-0.5)  # each shopper hit in one of two seeds
    assert gru["ci_low"] == gru["ci_high"] == pytest.approx(-0.5)
    assert paired["vs_best_recurrent"]["LSTM"]["HR@10"]["difference"] == pytest.approx(0.5)
    assert "GRU" not in paired["vs_best_recurrent"]


def test_the_search_draws_the_same_configurations_for_every_model():
    configs = recommend.search_configs(5)
    assert configs == recommend.search_configs(5) and len(configs) == 5
    assert configs[0] == recommend.RECIPE
    searched = [tuple(c[k] for k in recommend.SEARCH_SPACE) for c in configs]
    assert len(set(searched)) == 5
    assert all(c[k] in recommend.SEARCH_SPACE[k] for c in configs for k in recommend.SEARCH_SPACE)


def test_published_results_come_from_a_file_beside_the_dataset_or_the_beauty_table(tmp_path):
    beauty = recommend.published_results()
    assert beauty["SASRec"]["NDCG@10"] == 0.0318 and beauty["BSARec"]["NDCG@10"] == 0.0611
    assert all(row["source"] for row in beauty.values())
    dataset = write_s3rec(tmp_path / "Toys.txt", {1: [1, 2, 3]})
    assert recommend.published_results(dataset) == {}
    (tmp_path / "Toys.published.json").write_text(json.dumps(
        {"SASRec": {"HR@10": 0.05, "NDCG@10": None, "source": "a paper"}}))
    assert recommend.published_results(dataset)["SASRec"]["NDCG@10"] is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"SASRec": {"NDCG@10": 3.2}}))
    with pytest.raises(ValidationError, match="bad.json: 'SASRec' has NDCG@10=3.2"):
        recommend.published_results(dataset, bad)


def test_benchmark_recsys_on_an_unseen_file_writes_the_promised_json(tmp_path, monkeypatch, capsys):
    from utils import cli

    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path / "work"))
    dataset = write_s3rec(tmp_path / "Toys.txt", cycle_sequences(n_users=40, n_items=15))
    (tmp_path / "Toys.published.json").write_text(json.dumps(
        {"SomeRec": {"HR@10": 0.5, "NDCG@10": None, "source": "a paper"}}))
    out = tmp_path / "toys.json"
    status = cli.main(["benchmark", "recsys", "--dataset", dataset, "--seeds", "2", "--models",
                       "GRU,SASRec,Markov,MostPopular", "--epochs", "1", "--search", "2", "--out", str(out)])
    assert status == 0
    recorded = json.loads(out.read_text())
    assert set(recorded["summary"]) == {"GRU", "SASRec", "Markov", "MostPopular", "GRU+Markov",
                                        "SASRec+Markov"}
    for name in ("GRU", "SASRec", "GRU+Markov", "SASRec+Markov"):
        row = recorded["summary"][name]
        for key in ("HR@10", "NDCG@10", "MRR", "epochs", "best_epoch", "seconds"):
            assert set(row[key]) == {"mean", "std"}, (name, key)
        assert row["n_runs"] == 2 and row["epochs"]["mean"] == 1
    assert recorded["paired"]["references"] == {"markov": "Markov", "best_recurrent": "GRU"}
    interval = recorded["paired"]["vs_markov"]["SASRec"]["NDCG@10"]
    assert interval["ci_low"] <= interval["difference"] <= interval["ci_high"]
    assert recorded["paired"]["n_bootstrap"] == 2000
    settings = recorded["settings"]
    assert settings["seeds"] == 2 and settings["max_epochs"] == 1 and len(settings["search"]) == 2
    assert settings["dataset"] == dataset and recorded["dataset"].startswith("Toys (40 users")
    assert recorded["published"] == {"SomeRec": {"HR@10": 0.5, "NDCG@10": None, "source": "a paper"}}
    # test targets are read once per model and seed, only for the configuration the search chose
    tested = [r for r in recorded["runs"] if r["stage"] == "test" and r["seed"] is not None]
    searched = [r for r in recorded["runs"] if r["stage"] == "search"]
    assert len(tested) == 8 and len(searched) == 4 and all("test" not in r for r in searched)
    for run in tested:
        if run["model"].endswith("+Markov"):  # the same trained model, with the chain's signal
            plain = next(r for r in tested if r["model"] == run["model"][:-7] and r["seed"] == run["seed"])
            assert run["markov_weight"] in recommend.MarkovBlend.WEIGHTS
            assert run["train_s"] == plain["train_s"] and run["epochs"] == plain["epochs"]
            assert run["valid"]["NDCG@10"] >= plain["valid"]["NDCG@10"]  # weight 0 is a choice
            continue
        best = max((r for r in searched if r["model"] == run["model"]),
                   key=lambda r: r["valid_NDCG@10"])
        assert run["config"] == best["config"]


def test_the_recsys_benchmark_command_passes_its_options_with_absolute_paths(tmp_path, monkeypatch):
    from utils.report import benchmarks

    monkeypatch.chdir(tmp_path)  # the command runs in the project folder, not here
    command = benchmarks.commands("recsys", seeds=2, dataset="Toys.txt", models="GRU,Markov",
                                  search=None, out="t.json")[0]
    assert command == ["-m", "utils.tasks.recommend", "--benchmark", "--seeds", "2", "--dataset",
                       str(tmp_path / "Toys.txt"), "--models", "GRU,Markov", "--out",
                       str(tmp_path / "t.json")]
