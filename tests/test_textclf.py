"""Product classification: text assembly, labels, split, models, training, saving, labelling."""

import inspect
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from tests.helpers import notebook_code, notebook_definition
from utils.core import config
from utils.data import sources
from utils.data.schema import ValidationError
from utils.models import text as text_models
from utils.models.evaluate import bootstrap_weights
from utils.tasks import classify

NOTEBOOK = config.NOTEBOOKS_DIR / "11_product_classification.ipynb"

TRAIN = {
    "Fragrance": ["Rose Eau de Parfum", "Oud Eau de Parfum", "Citrus Eau de Toilette",
                  "Vanilla Perfume Spray", "Amber Eau de Parfum Travel Spray", "Musk Cologne"],
    "Hair": ["Repair Shampoo", "Volume Shampoo", "Smoothing Conditioner", "Curl Cream for Hair",
             "Dry Shampoo", "Hair Mask Conditioner"],
    "Makeup": ["Matte Lipstick", "Volumizing Mascara", "Liquid Foundation", "Lip Gloss", "Eyeliner Pencil",
               "Powder Blush"],
    "Skincare": ["Hydrating Face Serum", "Gentle Face Cleanser", "Night Face Cream", "Vitamin C Serum",
                 "Eye Cream", "Clay Face Mask"],
    "Bath & Body": ["Body Lotion", "Shower Gel", "Body Wash", "Hand Cream for Body", "Body Scrub",
                    "Bath Salts"],
}


def catalogue() -> pd.DataFrame:
    rows = [(name, "Brand", primary, "Sub " + primary[:3])
            for primary, names in TRAIN.items() for name in names]
    return pd.DataFrame(rows, columns=["product_name", "brand_name", "primary_category",
                                       "secondary_category"])


@pytest.fixture(scope="module")
def fitted():
    data = catalogue()
    text = classify.product_text(data)
    labels = classify.category_labels(data, min_products=1)
    return {task: classify.tfidf_classifier("names", C=10.0).fit(text, labels[task])
            for task in ("primary", "secondary")}


def test_clean_field_joins_lists_and_blanks_missing():
    assert classify.clean_field("['Vegan', 'Good for: Dryness']") == "Vegan; Good for: Dryness"
    assert classify.clean_field(np.nan) == "" and classify.clean_field(None) == ""
    assert classify.clean_field("  Water,   Glycerin ") == "Water, Glycerin"
    assert classify.clean_field("[not a list") == "[not a list"


def test_product_text_handles_missing_fields_and_both_column_styles():
    sephora = pd.DataFrame({"product_name": ["Lip Balm", "Serum"], "brand_name": ["Fresh", None],
                            "highlights": ["['Vegan']", np.nan], "ingredients": [np.nan, "['Water']"]})
    text = classify.product_text(sephora)
    assert text.loc[0, "title"] == "Lip Balm Fresh" and text.loc[1, "title"] == "Serum"
    assert text.loc[0, "highlights"] == "Vegan" and text.loc[1, "highlights"] == ""
    assert text.loc[0, "ingredients"] == "" and text.loc[1, "ingredients"] == "Water"
    plain = classify.product_text(pd.DataFrame({"name": ["Shampoo"]}))
    assert plain.loc[0].to_dict() == {"title": "Shampoo", "name": "Shampoo", "brand": "", "highlights": "",
                                      "ingredients": "", "size": "", "variation": ""}
    listed = classify.product_text(pd.DataFrame({"product_name": ["Body Lotion"], "size": ["6.7 oz/ 200 mL"],
                                                "variation_type": ["Scent"]}))
    assert listed.loc[0, ["size", "variation"]].tolist() == ["4-8 oz", "Scent"]
    assert classify.names_only(listed)[list(classify.DETAILS)].eq("").all().all()


def test_pack_size_bands_ounces_millilitres_and_grams():
    assert classify.pack_size("8.7 oz / 260 mL") == "> 8 oz"
    assert classify.pack_size("1 oz / 30 mL") == "0.5-1 oz"  # upper edge included
    assert classify.pack_size(".23 fl oz / 7 ml") == "0-0.25 oz"
    assert classify.pack_size("100 mL") == "2-4 oz"  # no ounces given: 100 / 29.57 = 3.4 oz
    assert classify.pack_size("4.0 oz/ 120 g") == "2-4 oz"
    assert classify.pack_size("28 Pads") == "" and classify.pack_size(np.nan) == ""
    with pytest.raises(ValidationError, match="product_name"):
        classify.product_text(pd.DataFrame({"title": ["x"]}))


def test_category_labels_keep_five_categories_and_merge_rare_secondaries():
    products = pd.DataFrame({
        "primary_category": ["Skincare"] * 3 + ["Skincare", "Makeup", "Mini Size", "Men", "Tools & Brushes"],
        "secondary_category": ["Moisturizers"] * 3 + ["Masks", np.nan, "Makeup", "Skincare", "Beauty Tools"],
    })
    labels = classify.category_labels(products, min_products=3)
    assert labels["primary"].tolist()[:5] == ["Skincare"] * 4 + ["Makeup"]
    assert labels["primary"].iloc[5:].isna().all()  # shop sections are not in the task
    assert labels["secondary"].tolist()[:5] == ["Skincare › Moisturizers"] * 3 + ["Skincare › other",
                                                                                   "Makeup › other"]
    assert labels["scored"].tolist() == [True] * 3 + [False] * 5
    truth = classify.section_truth(products)  # Mini Size › Makeup is makeup; tools have no answer
    assert truth.iloc[5:7].tolist() == ["Makeup", "Skincare"] and truth.drop([5, 6]).isna().all()
    with pytest.raises(ValidationError, match=r"secondary_category.*Add or rename"):
        classify.category_labels(products.drop(columns="secondary_category"))


def test_stratified_split_is_disjoint_complete_and_keeps_the_mix():
    labels = pd.Series(["a"] * 60 + ["b"] * 30 + ["c"] * 8 + ["d"] * 2)
    train, valid, test = classify.stratified_split(labels, seed=1, valid=0.2, test=0.2)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(100))
    assert len(train) == 60 and len(valid) == 20 and len(test) == 20
    assert (labels.iloc[valid] == "a").sum() == 12 and (labels.iloc[test] == "b").sum() == 6


def test_details_classifier_reads_size_and_variation_and_weighs_classes():
    sizes = ["3.4 oz"] * 6 + ["8 oz"] * 6 + ["0.1 oz"] * 6 + ["1 oz"] * 6 + ["16 oz"] * 6
    data = catalogue().assign(size=sizes,
                              variation_type=["Scent"] * 6 + ["Size"] * 6 + ["Color"] * 6 + ["Size"] * 12,
                              highlights="Vegan", ingredients="Water, Glycerin")
    text, labels = classify.product_text(data), classify.category_labels(data, min_products=1)["primary"]
    model = classify.tfidf_classifier("details", C=10.0, class_weight="balanced").fit(text, labels)
    assert model.named_steps["model"].class_weight == "balanced"
    features = model.named_steps["features"].get_feature_names_out()
    assert "pack__size_> 8 oz" in features and "pack__variation_Color" in features
    # a product with a name that says nothing: its size and variation place it
    unknown = classify.product_text(pd.DataFrame({"name": ["Nameless"], "size": ["0.1 oz"],
                                                 "variation_type": ["Color"]}))
    assert model.predict(unknown)[0] == "Makeup"


@pytest.mark.skipif(not os.environ.get(sources.MIRROR_ENV), reason="no local mirror of the real data")
def test_details_classifier_converges_on_real_products():
    # the notebook's hardest fit, on a sample: weak regularisation, balanced weights, field dropout
    products = sources.load_sephora_products()
    labels = classify.category_labels(products)
    sample = labels[labels["primary"].notna()].groupby("primary").sample(150, random_state=0).index
    text, secondary = classify.product_text(products.loc[sample]), labels.loc[sample, "secondary"]
    x, y = classify.with_names_only_copies(text, secondary)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = classify.tfidf_classifier("details", C=30.0, class_weight="balanced").fit(x, y)
    assert model.named_steps["model"].n_iter_[0] < 1000
    assert (model.predict(text) == secondary.to_numpy()).mean() > 0.9  # it fits its own training data


def test_a_tiny_classifier_labels_an_obvious_new_product(fitted):
    out = classify.label_products(["Jasmine Eau de Parfum", "Shine Shampoo", "Red Lipstick"], model=fitted)
    assert out["primary"].tolist() == ["Fragrance", "Hair", "Makeup"]
    assert out["primary_probability"].between(0, 1).all()
    # the secondary category always lies under the predicted primary one
    assert all(s.startswith(p + classify.SEP) for p, s in zip(out["primary"], out["secondary"], strict=True))


def test_save_and_load_round_trip(fitted, tmp_path):
    path = classify.save_classifier(fitted, tmp_path / "clf.joblib")
    assert [p.name for p in tmp_path.iterdir()] == ["clf.joblib"]  # no temporary file left behind
    names = ["Rose Body Lotion", "Night Eye Cream"]
    before = classify.label_products(names, brands=["X", None], model=fitted)
    after = classify.label_products(names, brands=["X", None], model=path)
    pd.testing.assert_frame_equal(before, after)
    with pytest.raises(ValueError, match="secondary"):
        classify.save_classifier({"primary": fitted["primary"]}, tmp_path / "half.joblib")


def test_label_products_says_what_is_wrong(fitted, tmp_path):
    with pytest.raises(TypeError, match=r"wrap it in a list"):
        classify.label_products("Rose Eau de Parfum", model=fitted)
    with pytest.raises(ValueError, match=r"names\[1\].*non-empty name"):
        classify.label_products(["Shampoo", "  "], model=fitted)
    with pytest.raises(ValueError, match="brands has 1 entries but names has 2"):
        classify.label_products(["Shampoo", "Lipstick"], brands=["X"], model=fitted)
    with pytest.raises(FileNotFoundError, match=r"no saved classifier at .*missing.joblib.*save_classifier"):
        classify.label_products(["Shampoo"], model=tmp_path / "missing.joblib")
    with pytest.raises(TypeError, match="load_classifier"):
        classify.label_products(["Shampoo"], model={"primary": "not a model"})


def test_macro_f1_and_per_class_score_only_the_given_labels():
    truth = ["a", "a", "b", "other"]
    pred = ["a", "b", "b", "a"]
    assert classify.macro_f1(truth, pred, ["a", "b"]) == pytest.approx((2 / 3 + 2 / 3) / 2)
    # a label without a true row cannot be measured: left out, not counted as 0
    assert classify.macro_f1(truth, pred, ["a", "b", "c"]) == classify.macro_f1(truth, pred, ["a", "b"])
    # weights count rows repeatedly; weight 0 drops the only true "b", so only "a" is measured
    assert classify.macro_f1(truth, pred, ["a", "b"], sample_weight=[1, 1, 0, 0]) == pytest.approx(2 / 3)
    repeated = classify.macro_f1(["a"] * 4 + ["b", "other"], ["a", "a", "b", "b", "b", "a"], ["a", "b"])
    assert classify.macro_f1(truth, pred, ["a", "b"], sample_weight=[2, 2, 1, 1]) == pytest.approx(repeated)
    table = classify.per_class(truth, pred, ["a", "b"])
    assert table.loc["a", "precision"] == 1.0 and table.loc["a", "recall"] == 0.5
    assert table["products"].tolist() == [2, 1]


def test_macro_f1_interval_brackets_the_value():
    truth = ["a"] * 20 + ["b"] * 20
    pred = ["a"] * 16 + ["b"] * 4 + ["b"] * 18 + ["a"] * 2
    estimate = classify.macro_f1_interval(truth, pred, ["a", "b"], n_boot=100, seed=0)
    assert estimate["value"] == pytest.approx(classify.macro_f1(truth, pred, ["a", "b"]))
    assert estimate["ci_low"] < estimate["value"] < estimate["ci_high"] <= 1.0
    assert classify.macro_f1_interval(truth, truth, ["a", "b"], n_boot=20) == {
        "value": 1.0, "ci_low": 1.0, "ci_high": 1.0}


def test_macro_f1_matches_scikit_learn_row_by_row():
    """The vectorised macro-F1 (all bootstrap rows at once) is scikit-learn's, one row at a time."""
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    truth = rng.choice(["a", "b", "c", "unscored"], 60).astype(object)
    pred = rng.choice(["a", "b", "c", "d"], 60).astype(object)
    labels = ["a", "b", "c"]
    for weights in bootstrap_weights(60, 30, seed=2):
        keep = np.isin(truth, labels) & (weights > 0)
        expected = f1_score(truth[keep], pred[keep], labels=sorted(set(truth[keep])), average="macro",
                            sample_weight=weights[keep])
        assert classify.macro_f1(truth, pred, labels, sample_weight=weights) == pytest.approx(expected)
    scores = [classify.macro_f1(truth, pred, labels, sample_weight=w) for w in bootstrap_weights(60, 50, 0)]
    estimate = classify.macro_f1_interval(truth, pred, labels, n_boot=50, seed=0)
    expected = np.percentile(scores, [2.5, 97.5]).tolist()
    assert [estimate["ci_low"], estimate["ci_high"]] == pytest.approx(expected)


def test_text_model_has_two_heads():
    model = text_models.build_text_model("cnn", seq_len=6, vocab_size=20, n_primary=5, n_secondary=7,
                                         dim=4, units=4)
    primary, secondary = model.predict(np.ones((3, 6), dtype="int32"), verbose=0)
    assert primary.shape == (3, 5) and secondary.shape == (3, 7)
    np.testing.assert_allclose(primary.sum(axis=1), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="lstm' or 'cnn"):
        text_models.build_text_model("gru", 6, 20, 5, 7)


def test_the_notebook_shows_the_library_builder():
    # the model code a student reads in the notebook is, character for character, the library's
    shown, first_line = notebook_definition(NOTEBOOK.name, "build_text_model")
    assert first_line.startswith("# the same function is in utils/models/text.py")
    assert shown == inspect.getsource(text_models.build_text_model).rstrip("\n")
    # and the notebook hands its own builder to the training function
    calls = [c for c in notebook_code(NOTEBOOK.name) if "classify.train_text_model(" in c]
    assert calls and all("classify.train_text_model(build_text_model," in c for c in calls)


def test_training_builds_its_model_with_the_given_builder():
    data = catalogue()
    text, labels = classify.product_text(data), classify.category_labels(data, min_products=1)
    classes = {task: sorted(labels[task].unique()) for task in ("primary", "secondary")}
    vectorizer = classify.text_vectorizer(text, vocab_size=50, seq_len=8)
    built = []

    def recording_builder(*args, **kwargs):
        model = text_models.build_text_model(*args, **kwargs)
        built.append({"args": args, "kwargs": kwargs, "model": model,
                      "weights": [w.copy() for w in model.get_weights()]})
        return model

    model, history, predict = classify.train_text_model(
        recording_builder, "cnn", vectorizer, 6, (text, labels), classes, valid=(text, labels),
        epochs=3, patience=1, batch_size=8, dim=4, units=4, learning_rate=0.05)
    assert len(built) == 1 and built[0]["model"] is model
    assert built[0]["args"] == ("cnn", 6, vectorizer.vocabulary_size(), 5, len(classes["secondary"]))
    assert built[0]["kwargs"] == {"dim": 4, "units": 4, "learning_rate": 0.05}
    # the model the builder made is the one that was trained, and the one that predicts
    assert any(not np.array_equal(before, after)
               for before, after in zip(built[0]["weights"], model.get_weights(), strict=True))
    assert {"loss", "val_loss"} <= set(history)
    probs = predict(text.iloc[:4])
    assert list(probs["primary"].columns) == classes["primary"]
    assert probs["secondary"].shape == (4, len(classes["secondary"]))
    np.testing.assert_allclose(probs["primary"].sum(axis=1), 1.0, rtol=1e-5)

    # without validation data: exactly `epochs` epochs (the refit), again through the builder
    _, refit_history, _ = classify.train_text_model(recording_builder, "lstm", vectorizer, 8, (text, labels),
                                                    classes, epochs=2, dim=4, units=4)
    assert len(built) == 2 and built[1]["args"][:2] == ("lstm", 8) and len(refit_history["loss"]) == 2
    with pytest.raises(ValueError, match="longer than the vectorizer"):
        classify.token_ids(vectorizer, text, 9)
    with pytest.raises(ValueError, match="not in classes"):
        classify.train_text_model(recording_builder, "cnn", vectorizer, 6, (text, labels),
                                  {"primary": classes["primary"][:4], "secondary": classes["secondary"]})
