"""Vectorised sampling: weighted choices per row, grouped draws, smooth latent series and UUIDs,
all without Python loops over rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.signal import lfilter


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _row_choice(rng, weights: np.ndarray) -> np.ndarray:
    """One column index per row, with probability proportional to that row's weights."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), weights.shape[1] - 1)


class _GroupSampler:
    """Draw one item per row from weighted groups; group g owns flat positions start[g]:stop[g].

    All groups share one cumulative sum, so a draw is one uniform number and a binary search.
    """

    def __init__(self, blocks: list[tuple[np.ndarray, np.ndarray]]):
        """blocks: (items, weights) with weights of shape (n_groups_in_block, len(items))."""
        sizes = np.concatenate([np.full(len(w_), len(i)) for i, w_ in blocks])
        self.stop = np.cumsum(sizes)
        self.start = self.stop - sizes
        self.items = np.concatenate([np.tile(i, len(w_)) for i, w_ in blocks])
        self.cum = np.cumsum(np.concatenate([w_.ravel() for _, w_ in blocks]).astype(float))

    def draw(self, rng, group: np.ndarray) -> np.ndarray:
        start, stop = self.start[group], self.stop[group]
        lo = np.where(start > 0, self.cum[start - 1], 0.0)
        hi = self.cum[stop - 1]
        pos = np.searchsorted(self.cum, lo + rng.random(len(group)) * (hi - lo), side="right")
        return self.items[np.clip(pos, start, stop - 1)]


def _ar1(rng, n_series: int, length: int, sd: float, phi: float = 0.9) -> np.ndarray:
    """Smooth latent series (AR(1), stationary standard deviation ``sd``), one per row."""
    burn = 60
    noise = rng.standard_normal((n_series, length + burn)) * sd * np.sqrt(1 - phi**2)
    return lfilter([1.0], [1.0, -phi], noise, axis=1)[:, burn:]


def _uuids(rng, n: int) -> pd.Index:
    """n random version-4 UUID strings, built from bytes without a Python loop."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    digits = np.empty((n, 32), np.uint8)
    digits[:, 0::2] = hexdigits[raw >> 4]
    digits[:, 1::2] = hexdigits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), np.uint8)
    keep = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])
    text[:, keep] = digits
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text.ravel()))
    return pd.Index(pd.array(arr, dtype="str"))


def _segment_first(lengths: np.ndarray) -> np.ndarray:
    return np.cumsum(lengths) - lengths
