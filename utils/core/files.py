"""Writing files so that a reader never sees half of one, and JSON from NumPy values.

Every file the project writes goes through ``atomic_path``: the content is written under a
temporary name in the same folder and renamed into place only when complete (a rename within one
file system is atomic), so a crash or a full disk leaves the old file or none, never a torn one.
A folder written as a whole (the monthly Parquet files of a conversion) is put in place with
``replace_dir``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# The permissions open() gives a new file: 0o666 less the umask (which can only be read by
# setting it).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_NEW_FILE_MODE = 0o666 & ~_UMASK


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path``, on any
    error it is deleted and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _NEW_FILE_MODE)  # mkstemp makes it private; the file gets open()'s mode
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def replace_dir(new: str | os.PathLike, target: str | os.PathLike) -> None:
    """Put the complete folder ``new`` at ``target`` (both in the same folder), removing an
    earlier ``target`` only after the swap. A reader sees the old folder or the new one; only
    between the two renames is there none."""
    new, target = Path(new), Path(target)
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def to_jsonable(value):
    """Plain JSON types from NumPy scalars/arrays and nested containers; NaN and inf become None."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record a value of type {type(value).__name__}: {value!r}")
