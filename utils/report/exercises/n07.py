"""Checks of notebook 07 (next-item recommendation): repeat purchases, the history exclusion and
the tied output layer."""

from __future__ import annotations

import numpy as np

from utils.report.exercises import close, same_integer
from utils.tasks import recommend


def repeat_targets(answer, *, split) -> tuple[bool, str]:
    """The share of users whose test target is already in the sequence the model reads for the
    test (training prefix plus validation item)."""
    inputs = split.inputs("test")
    expected = float(np.mean([target in seq for target, seq in zip(split.test, inputs, strict=True)]))
    passed, message = close(answer, expected, 0.001, "the share of test targets bought before")
    if passed:
        message += (" Those targets would compete with the rest of the history if it were not removed "
                    "from the ranking; the protocol always ranks the target itself.")
    elif float(answer) > 1:
        message = "give a share between 0 and 1, not a percentage or a count."
    return passed, message


def without_exclusion(answer, *, scorer, split, ranks) -> tuple[bool, str]:
    """Test NDCG@10 of ``scorer`` when the items a user already bought are ranked too (an empty
    history matrix); ``ranks`` are the same model's test ranks with the exclusion."""
    inputs = split.inputs("test")
    nothing = recommend.history_matrix([np.array([], dtype=int)] * split.n_users, split.n_items)
    plain = recommend.target_ranks(scorer.score(inputs), split.test, nothing)
    expected = recommend.ranking_metrics(plain)["NDCG@10"]
    excluded = recommend.ranking_metrics(ranks)["NDCG@10"]
    passed, message = close(answer, expected, 1e-4, "test NDCG@10 without the history exclusion")
    if passed:
        message += f" With the exclusion it is {excluded:.4g}."
    elif abs(float(answer) - excluded) <= 1e-4:
        message = ("that is the NDCG@10 with the exclusion (the notebook's number): rank against an "
                   "empty history matrix instead.")
    return passed, message


def tied_saving(answer, *, n_items, dim) -> tuple[bool, str]:
    """How many weights the untied output layer has beyond the tied one: its own item table,
    n_items x dim (both layers have one bias per item)."""
    passed, message = same_integer(answer, n_items * dim, "weights the tied output layer saves")
    if passed:
        message += f" That is {n_items:,} items x {dim} dimensions: a second item table."
    elif int(answer) == n_items * (dim + 1):
        message = ("the tied layer has one bias per item too: only the untied layer's item table "
                   "is extra.")
    return passed, message


CHECKS = {"07.1": repeat_targets, "07.2": without_exclusion, "07.3": tied_saving}
