"""Checks of notebook 04's exercises (features)."""

from __future__ import annotations

import numpy as np

from utils.data.features import SequenceEncoder
from utils.report.exercises import one_of, same_integer


def vocabulary_gain(answer, inputs, is_train, encoder):
    """04.1: how many category codes an encoder with min_count = 1 adds to ``encoder``'s."""
    train_inputs = inputs[is_train[inputs["session"].to_numpy()]]
    loose = SequenceEncoder(max_len=encoder.max_len, min_count=1).fit(train_inputs)
    return same_integer(answer, len(loose.categories) - len(encoder.categories),
                        "categories gained with min_count = 1")


def random_split(answer):
    """04.2: why a random split of sessions overstates accuracy."""
    return one_of(answer, {
        "a": "Not so: a random split has as many test sessions as a split by day can have.",
        "b": "Right: a random split puts later days in training, so models learn the very weeks "
             "(promotions, trends, the same shoppers' later visits) they are tested on.",
        "c": "Not so: the purchase rate is about the same either way; the problem is time.",
    }, "b", "04.2")


def points_with_max_k(answer, table, k):
    """04.3: how many decision points max_k = k would make."""
    return same_integer(answer, int(np.minimum(table["n_events"].to_numpy(), k).sum()),
                        f"decision points with max_k = {k}")


CHECKS = {"04.1": vocabulary_gain, "04.2": random_split, "04.3": points_with_max_k}
