"""Classify beauty products into shop categories from their text.

- ``product_text`` turns a catalogue (Sephora's columns or plain name/brand/...) into the fields
  the models read; ``category_labels`` gives each product its primary and secondary label.
- ``tfidf_classifier`` builds the scikit-learn pipelines; ``train_text_model`` trains a Keras
  text model made by the builder it is given (``utils.models.text.build_text_model``).
- ``macro_f1`` / ``macro_f1_interval`` / ``per_class`` score predictions.
- ``save_classifier`` / ``load_classifier`` store the deployed pipelines (joblib, atomically);
  ``label_products`` labels new products from their names (and, when known, more text).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from utils.core import config
from utils.core.files import atomic_path
from utils.data.schema import require_columns

PRIMARY = ("Skincare", "Makeup", "Hair", "Fragrance", "Bath & Body")
# Sephora's other primary categories are shop sections, not kinds of product: a mini lipstick
# is makeup. They are left out of the five-class task (see section_truth).
SECTIONS = ("Mini Size", "Men", "Gifts", "Tools & Brushes")
SEP = " › "
OTHER = "other"
# the fields a product from another shop may lack; names_only blanks them
DETAILS = ("highlights", "ingredients", "size", "variation")
# bands of pack size in fluid ounces, upper edge included: a face serum comes in 1 oz, a body
# lotion in 6.7 oz
SIZE_EDGES = (0.25, 0.5, 1, 2, 4, 8)
ML_PER_OZ = 29.57
OTHER_RETAILER_CSV = config.PROJECT_ROOT / "data" / "external_checks" / "other_retailer_products.csv"


def default_model_path() -> Path:
    return config.data_dir("processed") / "product_classifier.joblib"


def clean_field(value) -> str:
    """One text field as a plain string: '' when missing; Sephora's "['a', 'b']" lists joined."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            items = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            items = None
        if isinstance(items, list):
            text = "; ".join(str(item) for item in items)
    return " ".join(text.split())


def pack_size(value) -> str:
    """The pack size as a band of fluid ounces ("2-4 oz"), '' when the text states none.

    Reads "8.7 oz / 260 mL", ".23 fl oz", "60 mL" or "4.0 oz/ 120 g" (grams count as millilitres);
    counts such as "28 Pads" or "1 Pair" have no size.
    """
    text = clean_field(value).lower()
    ounces = re.search(r"(\d*\.?\d+)\s*(?:fl\.?\s*)?oz\b", text)
    metric = re.search(r"(\d*\.?\d+)\s*(?:ml|g)\b", text)
    if ounces:
        size = float(ounces.group(1))
    elif metric:
        size = float(metric.group(1)) / ML_PER_OZ
    else:
        return ""
    band = int(np.searchsorted(SIZE_EDGES, size))
    low = SIZE_EDGES[band - 1] if band else 0
    return f"> {low} oz" if band == len(SIZE_EDGES) else f"{low}-{SIZE_EDGES[band]} oz"


def product_text(products: pd.DataFrame) -> pd.DataFrame:
    """The fields of each product the models read: title (name + brand), name, brand, highlights,
    ingredients, size (a band from ``pack_size``) and variation (what a shopper picks: "Color",
    "Size", "Scent", ...).

    Takes Sephora's column names (product_name, brand_name, variation_type) or name/brand/...;
    only a name is required, a missing column or value becomes ''.
    """
    aliases = {"name": ("name", "product_name"), "brand": ("brand", "brand_name"),
               "highlights": ("highlights",), "ingredients": ("ingredients",), "size": ("size",),
               "variation": ("variation", "variation_type")}
    out = {}
    for field, names in aliases.items():
        column = next((c for c in names if c in products.columns), None)
        if column is None and field == "name":
            require_columns(products, ["name"], "products",
                            fix="Name the product name column 'name' (or Sephora's 'product_name').")
        values = products[column] if column else pd.Series("", index=products.index)
        out[field] = [pack_size(v) if field == "size" else clean_field(v) for v in values]
    text = pd.DataFrame(out, index=products.index)
    text.insert(0, "title", (text["name"] + " " + text["brand"]).str.strip())
    return text


def full_text(text: pd.DataFrame) -> pd.Series:
    """All fields in one string, most telling first, for the Keras models."""
    return text["name"] + " | " + text["brand"] + " | " + text["highlights"] + " | " + text["ingredients"]


def names_only(text: pd.DataFrame) -> pd.DataFrame:
    """The same products as another shop would list them: name and brand, no details."""
    return text.assign(**{field: "" for field in DETAILS})


def category_labels(products: pd.DataFrame, min_products: int = 30) -> pd.DataFrame:
    """primary (one of PRIMARY, else missing) and secondary ("Skincare › Moisturizers").

    A secondary category with fewer than ``min_products`` products among the five primary
    categories, or none at all, becomes "<primary> › other"; ``scored`` marks the products whose
    secondary category is frequent enough to be scored.
    """
    require_columns(products, ["primary_category", "secondary_category"], "products")
    primary = products["primary_category"].astype("string")
    primary = primary.where(primary.isin(PRIMARY))
    secondary = products["secondary_category"].astype("string").fillna(OTHER)
    path = (primary + SEP + secondary).where(primary.notna())
    counts = path.value_counts()
    scored = path.map(counts).ge(min_products).fillna(False).astype(bool)
    path = path.where(scored | primary.isna(), primary + SEP + OTHER)
    return pd.DataFrame({"primary": primary, "secondary": path, "scored": scored}, index=products.index)


def section_truth(products: pd.DataFrame) -> pd.Series:
    """For products of a shop section (Mini Size, Men, ...), the primary category their secondary
    category names (Mini Size › Makeup -> Makeup), else missing."""
    require_columns(products, ["primary_category", "secondary_category"], "products")
    in_section = products["primary_category"].astype("string").isin(SECTIONS)
    secondary = products["secondary_category"].astype("string")
    return secondary.where(in_section & secondary.isin(PRIMARY))


def stratified_split(labels: pd.Series, seed: int = 0, valid: float = 0.15, test: float = 0.15):
    """Positions of the train, validation and test products, each with the mix of ``labels``.

    Labels with fewer than 3 products cannot be spread over three splits; they are pooled.
    """
    from sklearn.model_selection import train_test_split

    key = labels.astype("string").fillna("(missing)").reset_index(drop=True)
    key = key.where(key.map(key.value_counts()) >= 3, "(rare)")
    if 0 < (key == "(rare)").sum() < 3:
        key = key.replace("(rare)", key.mode()[0])
    positions = np.arange(len(key))
    train, rest = train_test_split(positions, test_size=valid + test, random_state=seed, stratify=key)
    rest_key = key.iloc[rest]
    rest_key = rest_key.where(rest_key.map(rest_key.value_counts()) >= 2, rest_key.mode()[0])
    valid_pos, test_pos = train_test_split(rest, test_size=test / (valid + test), random_state=seed,
                                           stratify=rest_key)
    return np.sort(train), np.sort(valid_pos), np.sort(test_pos)


def tfidf_classifier(kind: str = "names", C: float = 10.0, class_weight: str | None = None):
    """A TF-IDF + logistic regression pipeline reading the columns of ``product_text``.

    kind: "baseline" (word TF-IDF of name + brand, default settings), "names" (words and word
    pairs plus character 2-5-grams of the name, the brand as one token) or "details" (names plus
    the words of highlights and ingredients, the size band and the variation as one token each).
    class_weight: None, or "balanced" to weigh each class inversely to its number of products.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if kind == "baseline":
        parts = [("title", TfidfVectorizer(), "title")]
    elif kind in ("names", "details"):
        parts = [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "name"),
            # character n-grams match spellings and word parts: "moisturiser", "hydrating"
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                                      min_df=2), "name"),
            ("brand", OneHotEncoder(handle_unknown="ignore"), ["brand"]),
        ]
        if kind == "details":
            parts += [("highlights", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), "highlights"),
                      ("ingredients", TfidfVectorizer(sublinear_tf=True, min_df=2), "ingredients"),
                      ("pack", OneHotEncoder(handle_unknown="ignore"), ["size", "variation"])]
    else:
        raise ValueError(f"kind must be 'baseline', 'names' or 'details', got {kind!r}")
    # lbfgs converges here in under 100 iterations (saga needed more than 300 at C = 30, 5x slower)
    model = LogisticRegression(C=C, solver="lbfgs", max_iter=1000, class_weight=class_weight)
    return Pipeline([("features", ColumnTransformer(parts)), ("model", model)])


def with_names_only_copies(text: pd.DataFrame, labels: pd.Series):
    """Training data twice: as is, and with the details (highlights, ingredients, size,
    variation) blanked, so that a model that reads them still works on a bare name (field dropout)."""
    return pd.concat([text, names_only(text)]), pd.concat([labels, labels])


def text_vectorizer(text: pd.DataFrame, vocab_size: int, seq_len: int):
    """A Keras TextVectorization layer adapted to the ``full_text`` of ``text`` (the training
    products only): the ``vocab_size`` most frequent words get ids, the rest one "unknown" id."""
    import keras

    vectorizer = keras.layers.TextVectorization(max_tokens=vocab_size, output_sequence_length=seq_len)
    vectorizer.adapt(full_text(text).to_numpy())
    return vectorizer


def token_ids(vectorizer, text: pd.DataFrame, seq_len: int) -> np.ndarray:
    """Word ids of each product's ``full_text``: one row of ``seq_len`` ids per product."""
    import keras

    if seq_len > vectorizer.get_config()["output_sequence_length"]:
        raise ValueError(f"seq_len {seq_len} is longer than the vectorizer's output "
                         f"({vectorizer.get_config()['output_sequence_length']}); make it with "
                         "text_vectorizer(..., seq_len=<the longest length you need>)")
    # the vectorizer pads at the end and cuts the tail, so a shorter input is its first columns
    return keras.ops.convert_to_numpy(vectorizer(full_text(text).to_numpy()))[:, :seq_len]


def train_text_model(build: Callable, kind: str, vectorizer, seq_len: int, train: tuple,
                     classes: dict, valid: tuple | None = None, epochs: int = 8, patience: int = 2,
                     batch_size: int = 64, **build_args):
    """Make a Keras text model with ``build`` and train it on both levels at once.

    build: the model builder, called as ``build(kind, seq_len, vocab_size, n_primary,
      n_secondary, **build_args)``; ``utils.models.text.build_text_model`` is the project's.
    train, valid: (``product_text`` frame, labels frame with "primary" and "secondary").
      With ``valid``, training stops when the validation loss has not improved for ``patience``
      epochs and keeps the best epoch's weights; without it, it runs exactly ``epochs`` epochs
      (a refit with the number of epochs validation chose).
    classes: {"primary": [...], "secondary": [...]}, the labels in the order of the outputs.

    Returns (model, history, predict): the Keras model, its per-epoch losses, and
    ``predict(text)`` -> {"primary": DataFrame, "secondary": DataFrame} of probabilities.
    """
    import keras

    def encode(frame, labels):
        x = token_ids(vectorizer, frame, seq_len)
        y = []
        for task in ("primary", "secondary"):
            ids = labels[task].map({c: i for i, c in enumerate(classes[task])})
            if ids.isna().any():
                raise ValueError(f"{task} label {labels[task][ids.isna()].iloc[0]!r} is not in "
                                 f"classes[{task!r}]; list every label of the data there")
            y.append(ids.to_numpy(int))
        return x, y

    model = build(kind, seq_len, vectorizer.vocabulary_size(), len(classes["primary"]),
                  len(classes["secondary"]), **build_args)
    x, y = encode(*train)
    fit_args = {"epochs": epochs}
    if valid is not None:
        fit_args["validation_data"] = encode(*valid)
        fit_args["callbacks"] = [keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
    history = model.fit(x, y, batch_size=batch_size, verbose=0, **fit_args)

    def predict(frame):
        p, s = model.predict(token_ids(vectorizer, frame, seq_len), batch_size=512, verbose=0)
        return {"primary": pd.DataFrame(p, columns=list(classes["primary"])),
                "secondary": pd.DataFrame(s, columns=list(classes["secondary"]))}

    return model, history.history, predict


def macro_f1(y_true, y_pred, labels=None, sample_weight=None) -> float:
    """Macro-F1 over ``labels`` (default: the true labels), on the rows whose truth is one of them.

    A label of ``labels`` that no row has as its truth cannot be measured and is left out of the
    mean (rather than counted as an F1 of 0). ``sample_weight`` counts rows repeatedly (bootstrap).
    """
    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)[None, :]
    return float(_macro_f1_rows(y_true, y_pred, labels, weights)[0])


def _macro_f1_rows(y_true, y_pred, labels, weights: np.ndarray | None) -> np.ndarray:
    """Macro-F1 for each row of ``weights`` (resamples x rows), all at once, as ``macro_f1``
    defines it: per-label counts are weighted sums, so a bootstrap is a few matrix products."""
    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    labels = sorted(set(y_true)) if labels is None else list(labels)
    index = {label: i for i, label in enumerate(labels)}
    true = np.array([index.get(v, -1) for v in y_true])
    pred = np.array([index.get(v, -1) for v in y_pred])
    weights = np.ones((1, len(true))) if weights is None else weights
    kept = true >= 0  # rows whose truth is one of the labels; others count nowhere
    is_true = np.zeros((len(true), len(labels)))
    is_true[np.flatnonzero(kept), true[kept]] = 1.0
    is_pred = np.zeros((len(true), len(labels)))
    said = kept & (pred >= 0)
    is_pred[np.flatnonzero(said), pred[said]] = 1.0
    support, predicted = weights @ is_true, weights @ is_pred
    hits = weights @ (is_true * is_pred)
    # F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (predicted + support)
    f1 = np.divide(2 * hits, predicted + support, out=np.zeros_like(hits), where=predicted + support > 0)
    present = support > 0
    return np.divide((f1 * present).sum(axis=1), present.sum(axis=1),
                     out=np.zeros(len(weights)), where=present.any(axis=1))


def macro_f1_interval(y_true, y_pred, labels, n_boot: int = 200, seed: int = 0) -> dict:
    """Macro-F1 with a bootstrap 95% interval over the products: {"value", "ci_low", "ci_high"}.

    Each resample draws the products with replacement (the same draws for every model with the
    same seed and number of products, so intervals of different models line up).
    """
    from utils.models.evaluate import bootstrap_weights

    scores = _macro_f1_rows(y_true, y_pred, labels, bootstrap_weights(len(y_true), n_boot, seed))
    low, high = np.percentile(scores, [2.5, 97.5])
    return {"value": macro_f1(y_true, y_pred, labels), "ci_low": float(low), "ci_high": float(high)}


def per_class(y_true, y_pred, labels) -> pd.DataFrame:
    """Precision, recall, F1 and support of each label (rows whose truth is in ``labels``)."""
    from sklearn.metrics import precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    keep = np.isin(y_true, list(labels))
    p, r, f, n = precision_recall_fscore_support(y_true[keep], y_pred[keep], labels=list(labels),
                                                 zero_division=0)
    return pd.DataFrame({"precision": p, "recall": r, "f1": f, "products": n}, index=list(labels))


def save_classifier(models: dict, path: str | os.PathLike | None = None) -> Path:
    """Store {"primary": pipeline, "secondary": pipeline} with joblib, atomically."""
    import joblib

    missing = [task for task in ("primary", "secondary") if task not in models]
    if missing:
        raise ValueError(f"save_classifier needs a fitted pipeline for {missing}")
    path = Path(path) if path else default_model_path()
    with atomic_path(path) as tmp:
        joblib.dump({"primary": models["primary"], "secondary": models["secondary"]}, tmp)
    return path


def load_classifier(path: str | os.PathLike | None = None) -> dict:
    import joblib

    path = Path(path) if path else default_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"no saved classifier at {path}: fit one pipeline per level, e.g. "
            "classify.tfidf_classifier('names').fit(classify.product_text(products), labels[task]) "
            "for task 'primary' and 'secondary' (labels from classify.category_labels(products)), "
            f"store them with classify.save_classifier({{'primary': ..., 'secondary': ...}}, {str(path)!r}), "
            "or pass model=<path of a saved classifier>")
    return joblib.load(path)


def _as_list(values, what: str, n: int | None) -> list:
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of strings, got one string {values!r}; "
                        f"wrap it in a list: [{values!r}]")
    values = list(values)
    if n is not None and len(values) != n:
        raise ValueError(f"{what} has {len(values)} entries but names has {n}; give one per "
                         "product (None where unknown)")
    return values


def label_products(names, brands=None, highlights=None, ingredients=None, sizes=None, variations=None,
                   model=None) -> pd.DataFrame:
    """Primary and secondary category of new products, with the model's probability of each.

    Each optional list has one entry per name (None where unknown); ``sizes`` as listed
    ("6.7 oz / 200 mL"), ``variations`` as what a shopper picks ("Color", "Size", "Scent").
    ``model``: the dict from ``load_classifier``, a path to a saved one, or None for the one at
    ``default_model_path()``. The secondary category is the most likely one within the predicted
    primary category, so the two always agree.
    """
    names = _as_list(names, "names", None)
    bad = [i for i, name in enumerate(names) if not isinstance(name, str) or not name.strip()]
    if bad:
        raise ValueError(f"names[{bad[0]}] is {names[bad[0]]!r}: every product needs a non-empty "
                         f"name (string); fix or drop that entry ({len(bad)} such entries)")
    columns = {"name": names}
    for column, what, values in (("brand", "brands", brands), ("highlights", "highlights", highlights),
                                 ("ingredients", "ingredients", ingredients), ("size", "sizes", sizes),
                                 ("variation", "variations", variations)):
        if values is not None:
            columns[column] = _as_list(values, what, len(names))
    models = model if isinstance(model, dict) else load_classifier(model)
    if not all(hasattr(models.get(task), "predict_proba") for task in ("primary", "secondary")):
        raise TypeError("model must be the dict {'primary': pipeline, 'secondary': pipeline} that "
                        "load_classifier returns, a path to a saved classifier, or None")
    text = product_text(pd.DataFrame(columns))
    p_primary = models["primary"].predict_proba(text)
    primary = models["primary"].classes_[p_primary.argmax(axis=1)]
    p_secondary = models["secondary"].predict_proba(text)
    classes = models["secondary"].classes_
    parent = np.array([c.split(SEP)[0] for c in classes])
    within = np.where(parent[None, :] == primary[:, None], p_secondary, -1.0)
    best = within.argmax(axis=1)
    return pd.DataFrame({
        "name": text["name"], "brand": text["brand"],
        "primary": primary, "primary_probability": p_primary.max(axis=1),
        "secondary": classes[best], "secondary_probability": p_secondary[np.arange(len(best)), best],
    })
