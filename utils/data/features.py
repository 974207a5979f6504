"""Features for session purchase prediction, fitted on the training split only.

- ``SequenceEncoder``: per-event features as zero-padded arrays (the most recent ``max_len``
  events kept), with vocabularies and scalers learned from training sessions.
- ``session_aggregates``: one row of counts and summaries per session, for the classical
  baselines, built from the same input events.
- ``review_text_features``: TF-IDF and a small learned word embedding on product reviews,
  turned into one sentiment score per product.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from utils.data.schema import EVENT_TYPES, ValidationError

EVENT_CODES = {name: code for code, name in enumerate(EVENT_TYPES, 1)}  # 0 = padding
NUMERIC_FEATURES = ("log_price", "log_gap", "hour_sin", "hour_cos", "repeat_product", "sentiment")
PAD, UNKNOWN = 0, 1
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def _vocabulary(values: pd.Series, min_count: int) -> dict:
    counts = values.dropna().value_counts()
    kept = sorted(counts[counts >= min_count].index.tolist(), key=str)
    return {value: i + 2 for i, value in enumerate(kept)}  # 0 padding, 1 unknown or missing


def _event_columns(inputs: pd.DataFrame) -> pd.DataFrame:
    """Raw per-event quantities (before scaling), computed within each session."""
    seconds = ((inputs["event_time"] - EPOCH) // pd.Timedelta(seconds=1)).to_numpy(np.int64)
    gap = np.diff(seconds, prepend=seconds[:1])
    first = ~inputs["session"].duplicated().to_numpy()
    gap[first] = 0
    hour = inputs["event_time"].dt.hour + inputs["event_time"].dt.minute / 60
    return pd.DataFrame({
        "log_price": np.log1p(inputs["price"].to_numpy(float)),
        "log_gap": np.log1p(np.maximum(gap, 0)),
        "hour_sin": np.sin(2 * np.pi * hour / 24).to_numpy(),
        "hour_cos": np.cos(2 * np.pi * hour / 24).to_numpy(),
        "repeat_product": inputs.duplicated(["session", "product_id"]).to_numpy(float),
    }, index=inputs.index)


@dataclass
class SequenceEncoder:
    """Vocabularies and scalers learned from training sessions, applied to any split."""

    max_len: int = 50
    min_count: int = 5
    categories: dict = field(default_factory=dict)
    brands: dict = field(default_factory=dict)
    means: dict = field(default_factory=dict)
    stds: dict = field(default_factory=dict)
    product_sentiment: dict = field(default_factory=dict)

    def fit(self, train_inputs: pd.DataFrame, product_sentiment: dict | None = None) -> SequenceEncoder:
        self.categories = _vocabulary(train_inputs["category_id"], self.min_count)
        self.brands = _vocabulary(train_inputs["brand"].astype("string"), self.min_count)
        raw = _event_columns(train_inputs)
        for name in ("log_price", "log_gap"):
            std = float(raw[name].std())
            self.means[name] = float(raw[name].mean())
            self.stds[name] = std if np.isfinite(std) and std > 0 else 1.0
        self.product_sentiment = {int(k): float(v) for k, v in (product_sentiment or {}).items()}
        return self

    @property
    def vocab_sizes(self) -> dict[str, int]:
        return {"event_type": len(EVENT_CODES) + 1, "category": len(self.categories) + 2,
                "brand": len(self.brands) + 2}

    def transform(self, inputs: pd.DataFrame, n_sessions: int) -> dict[str, np.ndarray]:
        """Arrays for sessions 0..n_sessions-1 of ``inputs`` (its ``session`` column), keeping
        each session's last ``max_len`` events in time order, padded with zeros at the end."""
        raw = _event_columns(inputs)
        for name in ("log_price", "log_gap"):
            raw[name] = (raw[name] - self.means[name]) / self.stds[name]
        sentiment = inputs["product_id"].map(self.product_sentiment).fillna(0.0)
        raw["sentiment"] = sentiment.to_numpy(float)
        session = inputs["session"].to_numpy()
        from_end = inputs.groupby("session").cumcount(ascending=False).to_numpy()
        length = np.minimum(np.bincount(session, minlength=n_sessions), self.max_len)
        keep = from_end < self.max_len
        row = session[keep]
        col = length[row] - 1 - from_end[keep]

        def codes(values: pd.Series, vocab: dict) -> np.ndarray:
            return values.map(vocab).fillna(UNKNOWN).to_numpy(np.int32)

        arrays = {
            "event_type": np.zeros((n_sessions, self.max_len), np.int32),
            "category": np.zeros((n_sessions, self.max_len), np.int32),
            "brand": np.zeros((n_sessions, self.max_len), np.int32),
            "numeric": np.zeros((n_sessions, self.max_len, len(NUMERIC_FEATURES)), np.float32),
        }
        kinds = inputs["event_type"].astype(str)
        unknown = ~kinds.isin(list(EVENT_CODES))
        if unknown.any():
            raise ValidationError(f"unknown event types {sorted(set(kinds[unknown]))}; expected "
                                  f"{list(EVENT_CODES)} (validate events with utils.data.validate "
                                  "first)")
        arrays["event_type"][row, col] = kinds.map(EVENT_CODES).to_numpy(np.int32)[keep]
        arrays["category"][row, col] = codes(inputs["category_id"], self.categories)[keep]
        arrays["brand"][row, col] = codes(inputs["brand"].astype("string"), self.brands)[keep]
        arrays["numeric"][row, col] = raw[list(NUMERIC_FEATURES)].to_numpy(np.float32)[keep]
        arrays["length"] = length.astype(np.int32)
        return arrays

    def to_dict(self) -> dict:
        data = asdict(self)
        data["categories"] = {str(k): v for k, v in self.categories.items()}
        data["product_sentiment"] = {str(k): v for k, v in self.product_sentiment.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SequenceEncoder:
        encoder = cls(**data)
        encoder.categories = {int(k): v for k, v in data["categories"].items()}
        encoder.product_sentiment = {int(k): v for k, v in data["product_sentiment"].items()}
        return encoder


def session_aggregates(sessions: pd.DataFrame, inputs: pd.DataFrame) -> pd.DataFrame:
    """Order-free summaries of each session's input events: what the classical baselines see."""
    kind = inputs["event_type"].astype(str)
    raw = _event_columns(inputs)
    frame = pd.DataFrame({
        "session": inputs["session"].to_numpy(),
        **{f"n_{name}": (kind == name).to_numpy(int) for name in ("view", "cart", "remove_from_cart")},
        "log_price": raw["log_price"].to_numpy(),
        "log_gap": raw["log_gap"].to_numpy(),
        "repeat_product": raw["repeat_product"].to_numpy(),
    })
    g = frame.groupby("session")
    agg = pd.DataFrame({
        "n_events": g.size(),
        "n_view": g["n_view"].sum(), "n_cart": g["n_cart"].sum(),
        "n_remove_from_cart": g["n_remove_from_cart"].sum(),
        "n_products": inputs.groupby("session")["product_id"].nunique(),
        "n_categories": inputs.groupby("session")["category_id"].nunique(),
        "mean_log_price": g["log_price"].mean(), "max_log_price": g["log_price"].max(),
        "mean_log_gap": g["log_gap"].mean(), "repeat_share": g["repeat_product"].mean(),
    }).reindex(np.arange(len(sessions)), fill_value=0)
    agg["net_cart"] = agg["n_cart"] - agg["n_remove_from_cart"]
    agg["last_is_cart"] = (kind.groupby(inputs["session"]).last() == "cart").reindex(
        agg.index, fill_value=False).astype(int)
    agg["duration_min"] = ((sessions["end"] - sessions["start"]).dt.total_seconds() / 60).to_numpy()
    start = sessions["start"]
    hour = start.dt.hour.to_numpy()
    agg["hour_sin"], agg["hour_cos"] = np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)
    agg["weekend"] = (start.dt.weekday >= 5).astype(int).to_numpy()
    return agg


def demographics(sessions: pd.DataFrame, users: pd.DataFrame | None) -> pd.DataFrame:
    """Age, gender and region of each session's user, one-hot; empty when the source has none."""
    if users is None or users.empty:
        return pd.DataFrame(index=sessions.index)
    joined = sessions[["user_id"]].merge(users, on="user_id", how="left")
    out = pd.get_dummies(joined[["gender", "region"]].astype("string"), dtype=float)
    out.insert(0, "age", joined["age"].astype(float).fillna(joined["age"].median()).to_numpy())
    out.index = sessions.index
    return out


def review_text_features(reviews: pd.DataFrame, cutoff, max_features: int = 2000, seed: int = 0,
                         embedding_dim: int = 16, epochs: int = 3) -> dict:
    """Learn from reviews written before ``cutoff`` (training period only) what a positive
    review says, and score each product by its reviews.

    Two text models, both fitted here: TF-IDF + logistic regression, and a small Keras model
    that learns its own word embeddings (nothing is downloaded). Returns their held-out
    accuracies (a random 20% of the pre-cutoff reviews) and a sentiment per product
    (mean TF-IDF model probability of a positive review, centred on 0).
    """
    import keras
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    known = reviews[reviews["submitted"] < cutoff]
    text = known["text"].astype(str).to_numpy()
    positive = (known["rating"] >= 4).to_numpy(int)
    tr, te = train_test_split(np.arange(len(known)), test_size=0.2, random_state=seed,
                              stratify=positive if 0 < positive.sum() < len(positive) else None)
    tfidf = TfidfVectorizer(max_features=max_features, ngram_range=(1, 2), min_df=2)
    x_train = tfidf.fit_transform(text[tr])
    logistic = LogisticRegression(max_iter=1000).fit(x_train, positive[tr])
    tfidf_accuracy = float(logistic.score(tfidf.transform(text[te]), positive[te]))

    vectorize = keras.layers.TextVectorization(max_tokens=max_features, output_sequence_length=30)
    vectorize.adapt(text[tr].tolist())
    tokens = keras.ops.convert_to_numpy(vectorize(text.tolist()))
    embedding_model = keras.Sequential([
        keras.Input((tokens.shape[1],), dtype="int32"),
        keras.layers.Embedding(max_features, embedding_dim, mask_zero=True),
        keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(1, activation="sigmoid"),
    ])
    embedding_model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    embedding_model.fit(tokens[tr], positive[tr], epochs=epochs, batch_size=64, verbose=0)
    embedding_accuracy = float(embedding_model.evaluate(tokens[te], positive[te], verbose=0)[1])

    scores = logistic.predict_proba(tfidf.transform(text))[:, 1]
    by_product = pd.Series(scores, index=known["product_id"].to_numpy()).groupby(level=0).mean()
    words = np.array(tfidf.get_feature_names_out())
    order = np.argsort(logistic.coef_[0])
    return {
        "tfidf_accuracy": tfidf_accuracy,
        "embedding_accuracy": embedding_accuracy,
        "majority_accuracy": float(max(positive[te].mean(), 1 - positive[te].mean())),
        "product_sentiment": (by_product - by_product.mean()).to_dict(),
        "positive_words": words[order[-10:]][::-1].tolist(),
        "negative_words": words[order[:10]].tolist(),
        "embedding_model": embedding_model,
    }
