"""Features for session purchase prediction, fitted on the training split only.

- ``SequenceEncoder``: per-event features as zero-padded arrays (the most recent ``max_len``
  events kept), with vocabularies and scalers learned from training sessions.
- ``session_aggregates``: one row of order-free summaries per session, for the classical
  baselines, built from the same event columns (``EVENT_INPUTS``) with the same fitted encoder,
  so both kinds of model get the same information.
- ``review_text_features``: TF-IDF and a small learned word embedding on product reviews,
  turned into one sentiment score per product.
- ``encode_task``: all of the above for a session table: its decision points with summaries
  and user features, and its sequences, through a fitted encoder; the one way an event log
  becomes model inputs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from utils.data import sessions as session_task
from utils.data.schema import EVENT_TYPES, ValidationError, require_columns

EVENT_CODES = {name: code for code, name in enumerate(EVENT_TYPES, 1)}  # 0 = padding
NUMERIC_FEATURES = ("log_price", "log_gap", "hour_sin", "hour_cos", "repeat_product", "sentiment")
PAD, UNKNOWN = 0, 1
# the raw event columns every purchase model reads: the sequence encoder and the session summaries
EVENT_INPUTS = ("event_time", "event_type", "product_id", "category_id", "brand", "price")
EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def _vocabulary(counts: pd.Series, min_count: int) -> dict:
    kept = sorted(counts[counts >= min_count].index.tolist(), key=str)
    return {value: i + 2 for i, value in enumerate(kept)}  # 0 padding, 1 unknown or missing


def encoder_statistics(train_inputs: pd.DataFrame) -> dict:
    """What ``SequenceEncoder.fit`` learns from training input events, as sums that add up over
    parts of the log: counts of each category and brand, and for log_price and log_gap the
    count, mean and sum of squared deviations (``combine_statistics``)."""
    train_inputs = _event_inputs(train_inputs)
    raw = _event_columns(train_inputs)
    return {"category": train_inputs["category_id"].dropna().value_counts(),
            "brand": train_inputs["brand"].astype("string").dropna().value_counts(),
            # missing values are skipped, as pandas' mean and std skip them
            "moments": {name: moments(raw[name].dropna().to_numpy(float))
                        for name in ("log_price", "log_gap")}}


def combine_statistics(parts: list[dict]) -> dict:
    """The encoder_statistics of the parts of a log together, in the order given (Chan et al.'s
    pairwise update for the moments), so any engine that combines them in one order agrees."""
    total = {"category": pd.Series(dtype="int64"), "brand": pd.Series(dtype="int64"), "moments": {}}
    for part in parts:
        for name in ("category", "brand"):
            total[name] = total[name].add(part[name], fill_value=0).astype("int64")
        for name, moments in part["moments"].items():
            total["moments"][name] = combine_moments(total["moments"].get(name, (0, 0.0, 0.0)), moments)
    return total


def moments(values: np.ndarray) -> tuple[int, float, float]:
    """(count, mean, sum of squared deviations) of ``values``, per column of a 2-D array."""
    values = np.asarray(values, float)
    mean = values.mean(0) if len(values) else np.zeros(values.shape[1:])
    return len(values), mean, ((values - mean) ** 2).sum(0)


def combine_moments(a: tuple, b: tuple) -> tuple:
    """The ``moments`` of two parts together (Chan et al.'s pairwise update)."""
    (n_a, mean_a, m2_a), (n_b, mean_b, m2_b) = a, b
    n = n_a + n_b
    if n == 0:
        return a
    delta = mean_b - mean_a
    return n, mean_a + delta * n_b / n, m2_a + m2_b + delta ** 2 * n_a * n_b / n


def _event_inputs(inputs: pd.DataFrame) -> pd.DataFrame:
    """The columns of ``EVENT_INPUTS`` and ``session``, and nothing else, so that no view of the
    events can read a column the other does not."""
    columns = [*EVENT_INPUTS, "session"]
    require_columns(inputs, columns, "session input events",
                    fix="build them with utils.data.sessions.purchase_task")
    return inputs[columns]


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
    n_top: int = 20  # categories and brands the session summaries count one by one
    categories: dict = field(default_factory=dict)
    brands: dict = field(default_factory=dict)
    top_categories: list = field(default_factory=list)
    top_brands: list = field(default_factory=list)
    means: dict = field(default_factory=dict)
    stds: dict = field(default_factory=dict)
    product_sentiment: dict = field(default_factory=dict)

    def fit(self, train_inputs: pd.DataFrame, product_sentiment: dict | None = None) -> SequenceEncoder:
        return self.fit_statistics(encoder_statistics(train_inputs), product_sentiment)

    def fit_statistics(self, statistics: dict, product_sentiment: dict | None = None) -> SequenceEncoder:
        """Fit from ``encoder_statistics`` of the training inputs (of parts of them, combined
        with ``combine_statistics``): the same encoder as ``fit`` on all of them at once."""
        self.categories = _vocabulary(statistics["category"], self.min_count)
        self.brands = _vocabulary(statistics["brand"], self.min_count)
        self.top_categories = _most_common(statistics["category"], self.n_top, self.categories)
        self.top_brands = _most_common(statistics["brand"], self.n_top, self.brands)
        for name, (n, mean, m2) in statistics["moments"].items():
            std = float(np.sqrt(m2 / (n - 1))) if n > 1 else np.nan  # pandas' std: 1 degree of freedom
            self.means[name] = float(mean) if n else np.nan
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
        inputs = _event_inputs(inputs)
        raw = self.event_features(inputs)
        for name in ("log_price", "log_gap"):
            raw[name] = (raw[name] - self.means[name]) / self.stds[name]
        session = inputs["session"].to_numpy()
        from_end = inputs.groupby("session").cumcount(ascending=False).to_numpy()
        length = np.minimum(np.bincount(session, minlength=n_sessions), self.max_len)
        keep = from_end < self.max_len
        row = session[keep]
        col = length[row] - 1 - from_end[keep]

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
        arrays["category"][row, col] = raw["category"].to_numpy(np.int32)[keep]
        arrays["brand"][row, col] = raw["brand"].to_numpy(np.int32)[keep]
        arrays["numeric"][row, col] = raw[list(NUMERIC_FEATURES)].to_numpy(np.float32)[keep]
        arrays["length"] = length.astype(np.int32)
        return arrays

    def event_features(self, inputs: pd.DataFrame) -> pd.DataFrame:
        """Per-event features before scaling: the numeric ones, product sentiment, and the
        category and brand codes of the fitted vocabularies."""
        raw = _event_columns(inputs)
        raw["sentiment"] = inputs["product_id"].map(self.product_sentiment).fillna(0.0).to_numpy(float)
        raw["category"] = inputs["category_id"].map(self.categories).fillna(UNKNOWN).to_numpy(np.int32)
        raw["brand"] = inputs["brand"].astype("string").map(self.brands).fillna(UNKNOWN).to_numpy(np.int32)
        return raw

    def to_dict(self) -> dict:
        data = asdict(self)
        data["categories"] = {str(k): v for k, v in self.categories.items()}
        data["top_categories"] = [int(k) for k in self.top_categories]
        data["product_sentiment"] = {str(k): v for k, v in self.product_sentiment.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SequenceEncoder:
        encoder = cls(**data)
        encoder.categories = {int(k): v for k, v in data["categories"].items()}
        encoder.product_sentiment = {int(k): v for k, v in data["product_sentiment"].items()}
        return encoder


def _most_common(counts: pd.Series, n: int, vocabulary: dict) -> list:
    """The ``n`` most frequent values (``counts``: value -> count) that have a code in
    ``vocabulary`` (ties by name)."""
    counts = counts[counts.index.isin(list(vocabulary))]
    ranked = sorted(counts.index.tolist(), key=lambda v: (-counts[v], str(v)))
    return ranked[:n]


def session_aggregates(sessions: pd.DataFrame, inputs: pd.DataFrame,
                       encoder: SequenceEncoder) -> pd.DataFrame:
    """Order-free summaries of each session's input events: what the classical baselines see.

    They read the same event columns as the sequence models, through the same fitted
    ``encoder``: counts by event type, products, categories and brands (shares of the training
    split's ``encoder.n_top`` most common of each, the rest as "other"), product sentiment,
    prices, pauses, time of day, and the session's duration.
    """
    inputs = _event_inputs(inputs)
    kind = inputs["event_type"].astype(str)
    raw = encoder.event_features(inputs)
    frame = pd.DataFrame({
        "session": inputs["session"].to_numpy(),
        **{f"n_{name}": (kind == name).to_numpy(int) for name in ("view", "cart", "remove_from_cart")},
        **{name: raw[name].to_numpy() for name in ("log_price", "log_gap", "repeat_product",
                                                   "sentiment", "hour_sin", "hour_cos")},
    })
    for name, column, top in (("category", "category_id", encoder.top_categories),
                              ("brand", "brand", encoder.top_brands)):
        values = inputs[column].astype("string") if name == "brand" else inputs[column]
        for rank, value in enumerate(top, 1):
            frame[f"{name}_top{rank}_share"] = values.eq(value).fillna(False).to_numpy(float)
        frame[f"{name}_other_share"] = (~values.isin(top)).to_numpy(float)
    g = frame.groupby("session")
    shares = [c for c in frame.columns if c.endswith("_share")]
    agg = pd.DataFrame({
        "n_events": g.size(),
        "n_view": g["n_view"].sum(), "n_cart": g["n_cart"].sum(),
        "n_remove_from_cart": g["n_remove_from_cart"].sum(),
        "n_products": inputs.groupby("session")["product_id"].nunique(),
        "n_categories": inputs.groupby("session")["category_id"].nunique(),
        "n_brands": inputs.groupby("session")["brand"].nunique(),
        "mean_log_price": g["log_price"].mean(), "min_log_price": g["log_price"].min(),
        "max_log_price": g["log_price"].max(),
        "mean_log_gap": g["log_gap"].mean(), "max_log_gap": g["log_gap"].max(),
        "repeat_share": g["repeat_product"].mean(),
        "mean_sentiment": g["sentiment"].mean(), "min_sentiment": g["sentiment"].min(),
        "max_sentiment": g["sentiment"].max(),
        "mean_hour_sin": g["hour_sin"].mean(), "mean_hour_cos": g["hour_cos"].mean(),
        **{name: g[name].mean() for name in shares},
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


def demographics(sessions: pd.DataFrame, users: pd.DataFrame | None,
                 train: np.ndarray | None = None) -> pd.DataFrame:
    """Age, gender and region of each session's user, one-hot; empty when the source has none.

    The encoding (the age that fills a missing one, the one-hot levels) is fitted on the rows
    where ``train`` is True (all rows when None) and applied to every row; a level not seen
    there gets no column.
    """
    if users is None or users.empty:
        return pd.DataFrame(index=sessions.index)
    joined = sessions[["user_id"]].merge(users, on="user_id", how="left")
    fit = joined if train is None else joined[np.asarray(train, bool)]
    out = pd.DataFrame(index=joined.index)
    out["age"] = joined["age"].astype(float).fillna(fit["age"].astype(float).median())
    for column in ("gender", "region"):
        values = joined[column].astype("string")
        for level in sorted(fit[column].astype("string").dropna().unique()):
            out[f"{column}_{level}"] = values.eq(level).fillna(False).astype(float)
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


@dataclass
class TaskFeatures:
    """The model inputs of a session table (``encode_task``)."""

    points: pd.DataFrame  # one row per decision point (sessions.decision_points)
    aggregates: pd.DataFrame  # the order-free summaries of each point's first k events
    person: pd.DataFrame  # the user features of each session (history, then demographics)
    arrays: dict  # each session's first max_k events as padded arrays, row = session

    @property
    def frame(self) -> pd.DataFrame:
        """The decision points with their summaries ``agg_*`` and user features ``user_*``."""
        person = self.person.iloc[self.points["session"]].reset_index(drop=True)
        return pd.concat([self.points, self.aggregates.add_prefix("agg_"), person.add_prefix("user_")],
                         axis=1)

    @property
    def aggregate_columns(self) -> list[str]:
        return ["agg_" + c for c in self.aggregates.columns]

    @property
    def user_columns(self) -> list[str]:
        return ["user_" + c for c in self.person.columns]


def encode_task(events: pd.DataFrame, table: pd.DataFrame, inputs: pd.DataFrame, encoder: SequenceEncoder,
                max_k: int, users: pd.DataFrame | None = None, train: np.ndarray | None = None,
                user_columns: list[str] | None = None) -> TaskFeatures:
    """Decision points, summaries, user features and sequences of the sessions of ``table`` and
    ``inputs`` (``sessions.purchase_task(events)``, with any extra columns such as the split),
    through an ``encoder`` already fitted on training sessions. ``events`` is the whole log the
    sessions come from (the user history counts the orders in it); ``users`` and ``train`` (rows
    of ``table``) fit the demographic encoding (``demographics``).

    ``user_columns`` (the ``user_*`` columns of a task encoded before, features.json) makes a new
    log's user features those columns: a level the new log lacks is 0, one the earlier task
    never saw is dropped.
    """
    points, point_inputs = session_task.decision_points(table, inputs, max_k)
    arrays = encoder.transform(inputs[inputs.groupby("session").cumcount() < max_k], len(table))
    person = pd.concat([session_task.user_history(table, inputs, events),
                        demographics(table, users, train)], axis=1)
    if user_columns is not None:
        person = person.reindex(columns=[c.removeprefix("user_") for c in user_columns], fill_value=0.0)
    aggregates = session_aggregates(points, point_inputs, encoder)
    return TaskFeatures(points, aggregates, person, arrays)
