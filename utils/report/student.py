"""Student copies of the notebooks: each solution replaced by a stub, every output cleared.

An exercise is a hint (markdown), a code cell tagged ``solution`` that ends by setting
``answer``, and a check cell (``check("NN.i", answer, ...)``, utils.report.exercises). In the
student copy the solution cell holds ``STUB`` instead, so the notebook still runs from top to
bottom: each check then says there is no answer yet.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor

from utils.core import config
from utils.report.notebooks import discover

SOLUTION_TAG = "solution"
STUB = "# your code here: end by setting `answer`\nanswer = ..."


def student_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with its solution cells stubbed and its outputs cleared."""
    copy = nbformat.from_dict(notebook)
    for cell in copy.cells:
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            cell.source = STUB
    copy, _ = ClearOutputPreprocessor().preprocess(copy, {})
    return copy


def write_student_copies(out_dir: str | Path | None = None) -> list[Path]:
    """Write the student copy of every numbered notebook to ``out_dir`` (default: student/ in
    the project) and return their paths."""
    out = Path(out_dir) if out_dir else config.PROJECT_ROOT / "student"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in discover():
        target = out / path.name
        nbformat.write(student_copy(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written
