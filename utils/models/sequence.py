"""Keras models for session purchase prediction: SimpleRNN, LSTM, GRU and a 1-D CNN.

All four share the same inputs (event type, category and brand embeddings, numeric event
features, optional per-session user features) and the same head (a 2-way softmax trained with
categorical cross-entropy and Adam), so they differ only in how they read the sequence.

Notebook 05 shows this builder in a code cell and trains the models it returns; a test keeps
the two copies identical.
"""

from __future__ import annotations

import keras
from keras import layers

SEQUENCE_KINDS = ("rnn", "lstm", "gru", "cnn")
EMBEDDING_SIZES = {"event_type": 4, "category": 16, "brand": 8}  # width of each learned embedding


def build_sequence_model(kind, vocab_sizes, n_numeric, n_user_features=0, units=128, dropout=0.0,
                         l2=0.0, learning_rate=1e-3):
    """A compiled model reading a session's events: column 1 of its output is P(purchase)."""
    regularizer = keras.regularizers.L2(l2) if l2 else None
    # each event: three ids (embedded) and its numeric features; the time axis is left open,
    # so a batch is only as long as its longest session
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in EMBEDDING_SIZES}
    inputs["numeric"] = keras.Input((None, n_numeric), name="numeric")
    embedded = [layers.Embedding(vocab_sizes[name], size, name=f"{name}_embedding")(inputs[name])
                for name, size in EMBEDDING_SIZES.items()]
    x = layers.Concatenate()([*embedded, inputs["numeric"]])
    mask = keras.ops.not_equal(inputs["event_type"], 0)  # event type 0 marks padding

    # the only part that differs between the models: how the sequence is read
    recurrent = {"dropout": dropout, "kernel_regularizer": regularizer, "recurrent_regularizer": regularizer}
    if kind == "rnn":
        x = layers.SimpleRNN(units, **recurrent, name="rnn")(x, mask=mask)
    elif kind == "lstm":
        x = layers.LSTM(units, **recurrent, name="lstm")(x, mask=mask)
    elif kind == "gru":
        x = layers.GRU(units, **recurrent, name="gru")(x, mask=mask)
    elif kind == "cnn":
        for i in (1, 2):
            x = layers.Conv1D(units, 3, padding="causal", activation="relu",
                              kernel_regularizer=regularizer, name=f"conv{i}")(x)
        # padding positions are zeroed so they never win the max (ReLU outputs are >= 0)
        x = layers.GlobalMaxPooling1D()(x * keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1))
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose one of rnn, lstm, gru, cnn")

    if n_user_features:  # the shopper's history, beside what the sequence layer read
        inputs["user"] = keras.Input((n_user_features,), name="user")
        x = layers.Concatenate()([x, inputs["user"]])
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(max(units // 2, 8), activation="relu", kernel_regularizer=regularizer)(x)
    outputs = layers.Dense(2, activation="softmax", name="purchase")(x)  # [P(no purchase), P(purchase)]
    model = keras.Model(inputs, outputs, name=kind)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy")
    return model
