"""Keras models of the next-item recommender (notebook 07): item embedding -> GRU / LSTM /
SimpleRNN -> a score for every item after each position, and ``build_sasrec``, a SASRec-style
self-attention model with the same inputs, outputs and layer names.

Notebook 07 shows the same ``TiedScores`` and ``build_recommender`` in a code cell and passes its
builder to ``utils.tasks.recommend.train_recommender``, and shows ``build_sasrec`` (with its
layers) beside the benchmark that trains it; a test keeps them identical. The
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


class ReversePositions(layers.Layer):
    """Adds a learned embedding of each position counted from the end (the last item is position
    0): sequences are left-padded and cut to their batch's longest, so only a count from the end
    gives the last item the same position in every batch and at ranking time."""

    def __init__(self, max_len, dim, **kwargs):
        super().__init__(**kwargs)
        self.max_len, self.dim = max_len, dim

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(self.max_len, self.dim), initializer="uniform",
                                         name="positions")

    def call(self, x):
        length = keras.ops.shape(x)[1]  # at most max_len: the training windows and the scorer cut there
        return x + keras.ops.flip(self.positions[:length], axis=0)


class KeysToAttend(layers.Layer):
    """(batch, time, time) mask of the keys each position may attend to: the real items (not the
    padding, item 0) and itself. A padding position then reads only itself, not (as with no key
    at all) every position, later ones included; the causal mask is added by the attention."""

    def call(self, items):
        real = keras.ops.expand_dims(keras.ops.not_equal(items, 0), 1)
        return keras.ops.logical_or(real, keras.ops.eye(keras.ops.shape(items)[1], dtype="bool"))


def build_sasrec(n_items, cell="sasrec", dim=64, dropout=0.3, tied=True, max_len=50, blocks=2, heads=1):
    """SASRec-style recommender: item embedding + learned positions -> ``blocks`` causal
    self-attention blocks (pre-norm, point-wise feed-forward) -> a score for every item after
    every position (batch, time, n_items), as ``build_recommender``. Position t attends to
    positions <= t only, and never to the padding (item 0)."""
    if cell != "sasrec":
        raise ValueError(f"build_sasrec builds the 'sasrec' model, got cell={cell!r}")
    items = keras.Input((None,), dtype="int32", name="items")
    embedding = layers.Embedding(n_items + 1, dim, name="item_embedding")
    x = ReversePositions(max_len, dim, name="positions")(embedding(items))
    x = layers.Dropout(dropout)(x)
    keys = KeysToAttend(name="keys_to_attend")(items)
    for block in range(blocks):
        h = layers.LayerNormalization(epsilon=1e-6)(x)
        h = layers.MultiHeadAttention(heads, dim // heads, dropout=dropout, name=f"attention_{block}")(
            h, h, attention_mask=keys, use_causal_mask=True)
        x = layers.Add()([x, layers.Dropout(dropout)(h)])
        h = layers.LayerNormalization(epsilon=1e-6)(x)
        h = layers.Dense(dim, activation="relu")(h)
        h = layers.Dense(dim)(layers.Dropout(dropout)(h))
        x = layers.Add()([x, layers.Dropout(dropout)(h)])
    state = layers.LayerNormalization(epsilon=1e-6, name="state")(x)
    if tied:
        scores = TiedScores(embedding, name="scores")(state)
    else:
        scores = layers.Dense(n_items, name="scores")(state)
    return keras.Model(items, scores, name="sasrec_recommender")
