"""Checks of notebook 11 (product classification): scored categories, macro-F1 by hand, a
weighted ensemble."""

from __future__ import annotations

import numpy as np

from utils.report.exercises import close, same_integer
from utils.tasks import classify


def more_scored(answer, catalogue, min_products):
    """11.1: how many more secondary categories of the five product categories are scored with
    ``min_products = 10`` than with the notebook's ``min_products`` (counted on the catalogue)."""
    def n_scored(minimum):
        labels = classify.category_labels(catalogue, min_products=minimum)
        return labels.loc[labels["scored"], "secondary"].nunique()

    expected = n_scored(10) - n_scored(min_products)
    passed, message = same_integer(answer, expected, "more categories scored with min_products = 10")
    if passed:
        message += (f" ({n_scored(10)} in all.) Each new one has between 10 and {min_products - 1} products, "
                    "so only a few of them land in the test split, and its F1 there moves a lot with every "
                    "product.")
    return passed, message


def macro_f1_by_hand(answer, truth, predicted, labels):
    """11.2: the macro-F1 of ``predicted`` against ``truth`` over ``labels``: the mean over labels of
    F1 = 2 P R / (P + R) (an F1 of 0 where P + R = 0), as ``classify.macro_f1`` computes it."""
    expected = classify.macro_f1(truth, predicted, labels)
    passed, message = close(answer, expected, 1e-4, "the primary macro-F1 of the refitted choice on test")
    if not passed:
        message += (" Per class: precision over the products predicted in it, recall over the products "
                    "truly in it; then the plain mean of the F1 over the classes, not weighted by size.")
    return passed, message


def ensemble_weight(answer, members, frame, truth, classes, labels):
    """11.3: a weight w in [0, 1] of the first member, the second getting 1 - w, whose weighted mean of
    secondary probabilities has the best validation macro-F1 among w = 0, 0.1, ..., 1."""
    first, second = (member(frame)["secondary"].reindex(columns=classes, fill_value=0.0)
                     for member in members)

    def score(w):
        probs = (w * first + (1 - w) * second).to_numpy()
        return classify.macro_f1(truth, np.asarray(classes, dtype=object)[probs.argmax(axis=1)], labels)

    w = float(answer)
    if not 0 <= w <= 1:
        return False, f"w = {w:g}: a weight between 0 and 1, the share of the first member."
    grid = {g: score(g) for g in np.round(np.linspace(0, 1, 11), 1)}
    mine = score(w)
    if mine >= max(grid.values()) - 1e-12:
        return True, (f"w = {w:g} gives a validation secondary macro-F1 of {mine:.4f}; the plain mean "
                      f"(w = 0.5) {grid[0.5]:.4f}, the first member alone {grid[1.0]:.4f}, the second alone "
                      f"{grid[0.0]:.4f}.")
    return False, (f"w = {w:g} gives {mine:.4f}; another weight of the grid does better, by "
                   f"{max(grid.values()) - mine:.4f}. Score every w of the grid, then keep the best.")


CHECKS = {"11.1": more_scored, "11.2": macro_f1_by_hand, "11.3": ensemble_weight}
