"""Keras model of the next-item recommender (notebook 07): item embedding -> GRU / LSTM /
SimpleRNN -> a score for every item after each position.

Notebook 07 shows the same ``TiedScores`` and ``build_recommender`` in a code cell and passes its
builder to ``utils.tasks.recommend.train_recommender``; a test keeps the two identical. The
training machinery relies on two layer names: ``state`` (the hidden state after each position)
and ``scores`` (the layer that turns a state into item scores).
"""

from __future__ import annotations

import keras
from keras import layers


class TiedScores(layers.Layer):
    """Score of item j = state . (embedding of item j) + bias_j, for items 1..n_items: the
    output layer reuses the item embeddings instead of learning a second table."""

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding  # shared: summary() counts its weights here again
        self.supports_masking = True

    def build(self, input_shape):
        n_items = self.embedding.input_dim - 1  # row 0 of the embedding is the padding
        self.bias = self.add_weight(shape=(n_items,), initializer="zeros", name="bias")

    def call(self, state):
        items = self.embedding.embeddings[1:]
        return keras.ops.matmul(state, keras.ops.transpose(items)) + self.bias


def build_recommender(n_items, cell="gru", dim=64, dropout=0.3, tied=True):
    """Item indices (batch, time; 0 pads on the left) -> scores of items 1..n_items as the next
    item after every position (batch, time, n_items)."""
    items = keras.Input((None,), dtype="int32", name="items")
    embedding = layers.Embedding(n_items + 1, dim, mask_zero=True, name="item_embedding")
    x = layers.Dropout(dropout)(embedding(items))
    recurrent = {"gru": layers.GRU, "lstm": layers.LSTM, "rnn": layers.SimpleRNN}[cell]
    x = recurrent(dim, return_sequences=True, name=cell)(x)  # the mask skips the padding
    state = layers.Dropout(dropout, name="state")(x)
    if tied:
        scores = TiedScores(embedding, name="scores")(state)
    else:  # a separate output table: n_items x dim more weights
        scores = layers.Dense(n_items, name="scores")(state)
    return keras.Model(items, scores, name=f"{cell}_recommender")
