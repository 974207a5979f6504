"""Keras models for live session purchase prediction: SimpleRNN, LSTM, GRU and a 1-D CNN.

All four share the same inputs (event type, category and brand embeddings, numeric event
features, optional per-session user features) and the same head (a 2-way softmax trained with
categorical cross-entropy and Adam), so they differ only in how they read the sequence. Each
reads a session event by event and answers after every event, seeing only the events so far:
that is the question a live shop asks (utils.data.sessions.decision_points).

Notebook 05 shows this builder in a code cell and trains the models it returns; a test keeps
the two copies identical.
"""

from __future__ import annotations

import keras
from keras import layers

SEQUENCE_KINDS = ("rnn", "lstm", "gru", "cnn")
EMBEDDING_SIZES = {"event_type": 4, "category": 16, "brand": 8}  # width of each learned embedding


def build_sequence_model(kind, vocab_sizes, n_numeric, n_user_features=0, units=128, n_layers=1,
                         dropout=0.0, learning_rate=1e-3):
    """A compiled model: output[:, t, 1] is P(the session buys) after its event t + 1."""
    # each event: three ids (embedded) and its numeric features; the time axis is left open,
    # so a batch is only as long as its longest session
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in EMBEDDING_SIZES}
    inputs["numeric"] = keras.Input((None, n_numeric), name="numeric")
    embedded = [layers.Embedding(vocab_sizes[name], size, name=f"{name}_embedding")(inputs[name])
                for name, size in EMBEDDING_SIZES.items()]
    x = layers.Concatenate()([*embedded, inputs["numeric"]])
    mask = keras.ops.not_equal(inputs["event_type"], 0)  # event type 0 marks padding

    # the only part that differs between the models: how the sequence is read, one output per event
    for i in range(1, n_layers + 1):
        if kind == "rnn":
            x = layers.SimpleRNN(units, dropout=dropout, return_sequences=True, name=f"rnn{i}")(x, mask=mask)
        elif kind == "lstm":
            x = layers.LSTM(units, dropout=dropout, return_sequences=True, name=f"lstm{i}")(x, mask=mask)
        elif kind == "gru":
            x = layers.GRU(units, dropout=dropout, return_sequences=True, name=f"gru{i}")(x, mask=mask)
        elif kind == "cnn":
            x = layers.Conv1D(units, 3, padding="causal", activation="relu", name=f"conv{i}")(x)
        else:
            raise ValueError(f"unknown model kind {kind!r}; choose one of rnn, lstm, gru, cnn")
    if kind == "cnn":  # each filter's mean over the events so far (a running mean, blind to later ones)
        x = keras.ops.cumsum(x, axis=1) / keras.ops.cumsum(keras.ops.ones_like(x[..., :1]), axis=1)

    if n_user_features:  # the shopper's history, beside what the sequence layer read, at every event
        inputs["user"] = keras.Input((n_user_features,), name="user")
        at_every_event = keras.ops.expand_dims(inputs["user"], 1) * keras.ops.ones_like(x[..., :1])
        x = layers.Concatenate()([x, at_every_event])
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(max(units // 2, 8), activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax", name="purchase")(x)  # [P(no purchase), P(purchase)]
    model = keras.Model(inputs, outputs, name=kind)
    # summed, not averaged per batch: then every event counts the same whatever batch it is in
    # (its sample weight sets how much; padding has weight 0)
    loss = keras.losses.CategoricalCrossentropy(reduction="sum")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model
