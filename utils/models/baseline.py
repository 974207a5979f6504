"""The classical baselines of the purchase study: logistic regression and gradient-boosted trees.

They read one order-free summary row per decision point (utils.data.features.session_aggregates
and the user features). Notebook 05 defines this builder in a code cell and its study trains the
models it returns; later notebooks that retrain the baselines use this copy, and a test keeps the
two identical.
"""

from __future__ import annotations

from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def build_baseline(kind, seed, **config):
    if kind == "logistic":  # standardised inputs, so one penalty C suits every feature
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, **config))
    if kind == "boosting":  # a fixed number of trees: the search tunes their size and rate
        return HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed, **config)
    raise ValueError(f"unknown baseline {kind!r}; choose logistic or boosting")
