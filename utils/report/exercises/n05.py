"""Checks of notebook 05's exercises (training the models)."""

from __future__ import annotations

import numpy as np

from utils.models.sequence import build_sequence_model
from utils.report.exercises import one_of, same_integer


def best_on_validation(answer, results):
    """05.1: the model with the highest mean validation ROC-AUC over its seeds."""
    mean = {kind: float(np.mean(r.val_auc)) for kind, r in results.items()}
    best = max(mean, key=mean.get)
    choices = {kind: (f"Right: `{kind}`, {auc:.4f}." if kind == best else
                      f"`{kind}` has {auc:.4f}; `{best}` has more ({mean[best]:.4f}).")
               for kind, auc in mean.items()}
    return one_of(answer, choices, best, "05.1 (one of the model names)")


def second_layer_weights(answer, vocab_sizes, n_numeric, n_user, config):
    """05.2: how many weights a second LSTM layer adds to the model of ``config``."""
    one = build_sequence_model("lstm", vocab_sizes, n_numeric, n_user, **{**config, "n_layers": 1})
    two = build_sequence_model("lstm", vocab_sizes, n_numeric, n_user, **{**config, "n_layers": 2})
    return same_integer(answer, two.count_params() - one.count_params(), "weights a second LSTM layer adds")


def pruned_trials(answer, results, kind):
    """05.3: how many of a model's search trials the pruner stopped."""
    return same_integer(answer, sum(t["pruned"] for t in results[kind].trials), f"`{kind}` trials pruned")


CHECKS = {"05.1": best_on_validation, "05.2": second_layer_weights, "05.3": pruned_trials}
