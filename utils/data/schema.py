"""The shop's event schema (the REES46 format), the one error class for bad data, and the one
check that a table has the columns a step needs.

Every module that reads, writes or checks events takes its column names, event types and typed
Arrow schema from here.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

COLUMNS = (
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price",
    "user_id", "user_session",
)
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"

# The typed schema of clean events (Parquet files and DataFrames follow it).
SCHEMA = pa.schema([
    ("event_time", pa.timestamp("s", tz="UTC")),
    ("event_type", pa.dictionary(pa.int8(), pa.string())),
    ("product_id", pa.int64()),
    ("category_id", pa.int64()),
    ("category_code", pa.dictionary(pa.int32(), pa.string())),
    ("brand", pa.dictionary(pa.int32(), pa.string())),
    ("price", pa.float64()),
    ("user_id", pa.int64()),
    ("user_session", pa.string()),
])


class ValidationError(ValueError):
    """Data that cannot be used as it is: a wrong header, an unreadable or truncated file, a value
    of the wrong type or out of range. Every loader raises this one class, and its message names
    the file, the line or row, the column where known, and the fix."""


def require_columns(frame: pd.DataFrame, columns: Iterable[str], what: str, fix: str = "") -> None:
    """Raise ValidationError unless ``frame`` has every one of ``columns``, naming the missing
    ones, the ones it has, and ``fix`` (what to do; by default, add or rename them)."""
    columns = list(columns)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"{what} has no column(s) {missing}; it needs {columns} (it has "
            f"{[str(c) for c in frame.columns]}). {fix or 'Add or rename the column(s) first.'}")
