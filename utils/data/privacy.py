"""Privacy tools for the shop's data: keyed pseudonyms and k-anonymity.

- **Pseudonyms.** ``pseudonymise(ids, key)`` replaces each id with a keyed HMAC-SHA256: the same id
  gets the same pseudonym in every file and run with the same key, and without the key the id
  cannot be recovered or checked (unlike a plain hash, which anyone can recompute for a guess).
  The key is ``utils.core.crypto.secret_key("pseudonym")``.
- **k-anonymity.** ``k_anonymity`` and ``l_diversity`` measure a table over its quasi-identifiers;
  ``generalise`` coarsens them step by step, then suppresses what is still too rare, and reports
  what that cost.

Encryption at rest lives in ``utils.core.crypto``, beside the keys, so that every loader can use it.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

PSEUDONYM_DIGITS = 20  # 80 bits: among 100 million ids, a collision has a chance below 1e-8


ID_COLUMNS = ("user_id", "user_session")  # the columns that name a shopper or a visit


def pseudonymise(ids, key: bytes, prefix: str = "") -> pd.Series:
    """Each id replaced by its keyed HMAC-SHA256 (of the id's text), in the column's own type, so
    that every schema check downstream still holds:

    - integer ids get the first 63 bits of the HMAC as an int64 (among a million ids, a collision
      has a chance below 1e-7);
    - other ids get ``prefix`` + the first PSEUDONYM_DIGITS hex digits, in the column's own
      type (str, object, string or categorical).

    Missing ids stay missing. Each distinct id is hashed once."""
    ids = pd.Series(ids)
    integer = pd.api.types.is_integer_dtype(ids.dtype)

    def pseudonym(value):
        digest = hmac.new(key, str(value).encode(), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") >> 1 if integer else prefix + digest.hex()[:PSEUDONYM_DIGITS]

    if isinstance(ids.dtype, pd.CategoricalDtype):
        return ids.cat.rename_categories([pseudonym(v) for v in ids.cat.categories])
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    if integer and ids.notna().all():
        return pd.Series(np.array([pseudonym(v) for v in uniques], np.int64)[codes], index=ids.index,
                         name=ids.name)
    names = np.array([pseudonym(v) for v in uniques] + [None], dtype=object)
    return pd.Series(names[codes], index=ids.index, name=ids.name,
                     dtype="Int64" if integer else ids.dtype)  # text stays the text type it was


def pseudonymise_tables(tables: dict[str, pd.DataFrame], key: bytes) -> dict[str, pd.DataFrame]:
    """Copies of ``tables`` with every ID_COLUMNS column pseudonymised with ``key``: the same id
    gets the same pseudonym in every table, so the tables still join."""
    return {name: frame.assign(**{c: pseudonymise(frame[c], key) for c in ID_COLUMNS if c in frame})
            for name, frame in tables.items()}


def k_anonymity(frame: pd.DataFrame, quasi_identifiers: list[str]) -> int:
    """The size of the smallest group of rows that share all their quasi-identifiers (a missing
    value is a value): every row is indistinguishable from at least k - 1 others."""
    if frame.empty:
        return 0
    return int(frame.groupby(quasi_identifiers, dropna=False, observed=True).size().min())


def l_diversity(frame: pd.DataFrame, quasi_identifiers: list[str], sensitive: str) -> int:
    """The fewest distinct values of ``sensitive`` within any group of shared quasi-identifiers."""
    if frame.empty:
        return 0
    groups = frame.groupby(quasi_identifiers, dropna=False, observed=True)[sensitive]
    return int(groups.nunique(dropna=False).min())


def generalise(frame: pd.DataFrame, quasi_identifiers: list[str], k: int, steps: list[tuple[str, object]]):
    """Make ``frame`` k-anonymous over ``quasi_identifiers``: apply the generalisation ``steps``
    ((column, function of the column's values) pairs, coarsest last) one at a time until k holds,
    then suppress (drop) the rows of the groups still smaller than k.

    Returns (the generalised frame, a report: k before and after, the steps applied, the rows
    suppressed, and for each quasi-identifier its distinct values before and after, a simple
    measure of the information lost). Nothing else in the frame changes."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    missing = [c for c in quasi_identifiers + [column for column, _ in steps] if c not in frame.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the table (it has {list(frame.columns)})")
    out, applied = frame.copy(), []
    for column, function in steps:
        if k_anonymity(out, quasi_identifiers) >= k:
            break
        out[column] = function(out[column])
        applied.append(column)
    groups = out.groupby(quasi_identifiers, dropna=False, observed=True)
    kept = out[groups[quasi_identifiers[0]].transform("size").to_numpy() >= k]
    dropped = len(frame) - len(kept)
    report = {"k_before": k_anonymity(frame, quasi_identifiers),
              "k_after": k_anonymity(kept, quasi_identifiers), "steps_applied": applied,
              "rows": len(frame), "suppressed_rows": dropped,
              "suppressed_share": dropped / len(frame) if len(frame) else 0.0,
              "distinct_values": {c: {"before": int(frame[c].nunique(dropna=False)),
                                      "after": int(kept[c].nunique(dropna=False))}
                                  for c in quasi_identifiers}}
    return kept, report


