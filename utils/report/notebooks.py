"""The numbered notebooks: finding them, choosing some, and reading their knobs without running them.

Notebooks are found by name (``NN_*.ipynb`` in notebooks/), never from a hand-kept list; names
starting with ``_`` are templates and skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

from utils.core import config

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")


def discover(folder: Path | None = None) -> list[Path]:
    """Numbered notebooks in order; a duplicate number is an error, not a silent choice."""
    folder = folder or config.NOTEBOOKS_DIR
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    numbers = [p.name[:2] for p in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ValueError(f"two notebooks share the number(s) {duplicates} in {folder}; renumber one")
    return found


def select(notebooks: list[Path], only: str | None = None, start: str | None = None) -> list[Path]:
    """Filter by ``only`` ("03", "03-05" or "01,04") and/or ``start`` ("04": 04 and later)."""
    chosen = notebooks
    if only:
        wanted: set[int] = set()
        for part in only.split(","):
            match = re.fullmatch(r"\s*(\d{1,2})\s*(?:-\s*(\d{1,2}))?\s*", part)
            if not match:
                raise ValueError(f"--only {only!r}: expected numbers like 03, 03-05 or 01,04")
            low = int(match.group(1))
            high = int(match.group(2) or low)
            wanted.update(range(low, high + 1))
        chosen = [p for p in chosen if int(p.name[:2]) in wanted]
    if start:
        if not start.strip().isdigit():
            raise ValueError(f"--from {start!r}: expected a notebook number like 04")
        chosen = [p for p in chosen if int(p.name[:2]) >= int(start)]
    if not chosen:
        names = ", ".join(p.stem for p in notebooks) or "none"
        raise ValueError(f"no notebook matches --only {only!r} --from {start!r}; notebooks: {names}")
    return chosen


def notebook_knobs(notebook: Path, profile: str) -> dict:
    """The knobs ``notebook`` runs with under ``profile``: the literals of its parameters cell,
    with the profile's overrides applied (and type-checked), without executing the notebook."""
    import ast

    import nbformat

    cells = [c for c in nbformat.read(notebook, as_version=4).cells
             if "parameters" in c.metadata.get("tags", [])]
    namespace = {}
    for statement in ast.parse(cells[0].source if cells else "").body:
        try:
            namespace[statement.targets[0].id] = ast.literal_eval(statement.value)
        except (AttributeError, ValueError) as exc:
            raise ValueError(f"{notebook.name}, parameters cell, line {statement.lineno}: "
                             "expected `knob = literal` (a number, string, bool, None, list or "
                             "dict), so that profiles can be checked without running the "
                             "notebook.") from exc
    namespace["profile"] = profile
    config.apply_profile(notebook.stem, namespace)
    return namespace
