"""Keras models that read a product's text and predict its category at two levels.

``build_text_model`` makes either model: word ids -> an embedding learned from the catalogue ->
an LSTM or a 1-D CNN -> two softmax heads, one for the primary category and one for the
secondary category, trained together. ``utils.tasks.classify.train_text_model`` trains a model
from any builder with this signature.
"""

from __future__ import annotations

import keras


def build_text_model(kind, seq_len, vocab_size, n_primary, n_secondary,
                     dim=64, units=96, learning_rate=5e-3):
    """Word ids -> embedding -> LSTM or 1-D CNN -> two softmax heads: primary and secondary."""
    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    # id 0 is padding; mask_zero tells the LSTM to skip it
    x = keras.layers.Embedding(vocab_size, dim, mask_zero=kind == "lstm")(tokens)
    if kind == "lstm":
        # read from the end back to the start, so the name is what the LSTM has seen last
        x = keras.layers.LSTM(units, go_backwards=True)(x)
    elif kind == "cnn":
        # 3-word filters slid over the text; each keeps its strongest match anywhere
        x = keras.layers.Conv1D(2 * units, 3, activation="relu")(x)
        x = keras.layers.GlobalMaxPooling1D()(x)
    else:
        raise ValueError(f"kind must be 'lstm' or 'cnn', got {kind!r}")
    x = keras.layers.Dropout(0.3)(x)
    outputs = [keras.layers.Dense(n_primary, activation="softmax", name="primary")(x),
               keras.layers.Dense(n_secondary, activation="softmax", name="secondary")(x)]
    model = keras.Model(tokens, outputs, name=kind)
    # one loss per head, added: both levels are learned from the same text representation
    model.compile(keras.optimizers.Adam(learning_rate),
                  ["sparse_categorical_crossentropy", "sparse_categorical_crossentropy"])
    return model
