"""Keras models for session purchase prediction: SimpleRNN, LSTM, GRU and a 1-D CNN.

All four share the same inputs (event type, category and brand embeddings, numeric event
features, optional per-session user features) and the same head (a 2-way softmax trained with
categorical cross-entropy), so they differ only in how they read the sequence.
"""

from __future__ import annotations

import keras
from keras import layers

SEQUENCE_KINDS = ("rnn", "lstm", "gru", "cnn")
JIT = "auto"
EMBEDDING_SIZES = {"event_type": 4, "category": 16, "brand": 8}


def build_sequence_model(kind: str, vocab_sizes: dict, n_numeric: int,
                         n_user_features: int = 0, units: int = 64, dropout: float = 0.2,
                         l2: float = 0.0, learning_rate: float = 1e-3) -> keras.Model:
    if kind not in SEQUENCE_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; choose one of {SEQUENCE_KINDS}")
    regularizer = keras.regularizers.L2(l2) if l2 else None
    # the time axis is left open: each batch is only as long as its longest session
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in EMBEDDING_SIZES}
    inputs["numeric"] = keras.Input((None, n_numeric), name="numeric")
    embedded = [layers.Embedding(vocab_sizes[name], size, name=f"{name}_embedding")(inputs[name])
                for name, size in EMBEDDING_SIZES.items()]
    x = layers.Concatenate()([*embedded, inputs["numeric"]])
    mask = keras.ops.not_equal(inputs["event_type"], 0)  # event type 0 marks padding

    recurrent = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}
    if kind in recurrent:
        x = recurrent[kind](units, dropout=dropout, kernel_regularizer=regularizer,
                            recurrent_regularizer=regularizer, name=kind)(x, mask=mask)
    else:
        for i in range(2):
            x = layers.Conv1D(units, 3, padding="causal", activation="relu",
                              kernel_regularizer=regularizer, name=f"conv{i + 1}")(x)
        # padding positions are zeroed so they never win the max (ReLU outputs are >= 0)
        x = layers.GlobalMaxPooling1D()(x * keras.ops.expand_dims(keras.ops.cast(mask, x.dtype), -1))
    if n_user_features:
        inputs["user"] = keras.Input((n_user_features,), name="user")
        x = layers.Concatenate()([x, inputs["user"]])
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(max(units // 2, 8), activation="relu", kernel_regularizer=regularizer)(x)
    outputs = layers.Dense(2, activation="softmax", name="purchase")(x)
    model = keras.Model(inputs, outputs, name=kind)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="categorical_crossentropy",
                  jit_compile=JIT)
    return model
