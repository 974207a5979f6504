"""Small builders shared by the tests."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def write_notebook(path: Path, *code_cells: str, params: str = "profile = None") -> Path:
    """A minimal notebook: a title, a tagged parameters cell, then the given code cells."""
    parameters = new_code_cell(params)
    parameters.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell(f"# {path.stem}"), parameters,
                             *(new_code_cell(src) for src in code_cells)])
    nb.metadata["kernelspec"] = {"name": "beauty-behaviour", "display_name": "Python (beauty-behaviour)",
                                 "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
