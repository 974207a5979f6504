"""Checks of notebook 12's exercises (privacy)."""

from __future__ import annotations

import numpy as np

from utils.data import privacy
from utils.models import private
from utils.report.exercises import close, same_integer


def age_bands_k(answer, users, quasi_identifiers, width):
    """12.1: k of the users table with age in ``width``-year bands and nothing else generalised."""
    if users is None:
        return False, "this data source has no users table, so there is no k to find"
    banded = users.assign(age=users["age"] // width * width)
    return same_integer(answer, privacy.k_anonymity(banded, quasi_identifiers),
                        f"k with {width}-year age bands")


def longer_training_epsilon(answer, noise_multiplier, sample_rate, steps):
    """12.2: the epsilon of ``steps`` DP-SGD steps at this noise and sampling rate."""
    expected = private.epsilon_spent(noise_multiplier, sample_rate, steps)
    return close(answer, expected, 0.01 * expected, f"epsilon after {steps:,} steps")


def members_caught(answer, loss, is_member):
    """12.3: the share of members whose loss is below the held-out shoppers' median loss."""
    loss, is_member = np.asarray(loss), np.asarray(is_member)
    expected = float((loss[is_member == 1] < np.median(loss[is_member == 0])).mean())
    return close(answer, expected, 1e-3, "share of members flagged")


CHECKS = {"12.1": age_bands_k, "12.2": longer_training_epsilon, "12.3": members_caught}
