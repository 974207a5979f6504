"""Small builders shared by the tests, and readers of the notebooks' code."""

import ast
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from utils.core import config


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


def notebook_code(notebook: str) -> list[str]:
    """The sources of the code cells of notebooks/<notebook>."""
    return [cell.source for cell in nbformat.read(config.NOTEBOOKS_DIR / notebook, as_version=4).cells
            if cell.cell_type == "code"]


def notebook_definition(notebook: str, name: str) -> tuple[str, str]:
    """The source of the function or class ``name`` as a code cell of ``notebook`` defines it,
    and that cell's first line."""
    for source in notebook_code(notebook):
        if f" {name}(" in source:
            for node in ast.parse(source).body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
                    return ast.get_source_segment(source, node), source.splitlines()[0]
    raise AssertionError(f"no code cell of {notebook} defines {name}")


def keyword_of_calls(notebook: str, function: str, keyword: str) -> list[str]:
    """The ``keyword=`` argument (as source) of every call of ``<module>.function`` in the notebook."""
    calls = [node for source in notebook_code(notebook) for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == function]
    return [next((ast.unparse(k.value) for k in call.keywords if k.arg == keyword), "")
            for call in calls]
