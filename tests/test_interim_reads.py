"""Notebooks and ``utils`` read data/interim through the loaders, read from the source with ``ast``.

A file in data/interim may be stored encrypted (``<file>.enc``). ``collect.load_interim``,
``collect.has_interim``, ``collect.read_source_info`` and ``config.read_table`` find either form;
a ``read_parquet`` or ``is_file()`` on the path itself misses the encrypted one, and a notebook
that checks an optional table that way goes on without it, silently.
"""

from __future__ import annotations

import ast

import nbformat
import pytest

from tests.test_layers import MODULES, ROOT
from tests.test_notebooks import NOTEBOOKS

# Calls that read or test a file at a path (as a method of the path or with it as an argument).
PATH_READS = {"read_parquet", "read_csv", "read_json", "read_text", "read_bytes", "open", "load",
              "is_file", "exists", "glob", "rglob", "iterdir"}
LOADERS = {"utils.data.collect"}  # the one module that opens data/interim files itself


def interim_path_reads(sources: list[str]) -> list[str]:
    """The calls in ``sources`` (the parts of one program, e.g. a notebook's code cells) that read
    or test a path in data/interim: built from config.data_dir("interim") or
    collect.interim_path(...), or held by a variable assigned one."""
    nodes = [node for source in sources for node in ast.walk(ast.parse(source))]
    held: set[str] = set()

    def in_interim(node: ast.AST) -> bool:
        if isinstance(node, ast.BinOp):  # interim / "truth" / "user_truth.parquet"
            return in_interim(node.left)
        if isinstance(node, ast.Name):
            return node.id in held
        if not isinstance(node, ast.Call):
            return False
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        return called == "interim_path" or (
            called == "data_dir" and len(node.args) == 1
            and isinstance(node.args[0], ast.Constant) and node.args[0].value == "interim")

    assignments = [node for node in nodes if isinstance(node, ast.Assign)]
    # a variable may hold another variable's path, assigned in a later cell: repeat until stable
    while new := {target.id for a in assignments if in_interim(a.value) for target in a.targets
                  if isinstance(target, ast.Name)} - held:
        held |= new
    reads = []
    for node in nodes:
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute):
            called, operands = node.func.attr, [node.func.value, *node.args]
        else:
            called, operands = getattr(node.func, "id", ""), node.args
        if called in PATH_READS and any(in_interim(operand) for operand in operands):
            reads.append(ast.unparse(node))
    return reads


def test_the_check_finds_the_reads_that_missed_encrypted_tables():
    earlier_notebook_code = [
        'interim = config.data_dir("interim")\n'
        'if (interim / "reviews.parquet").is_file():\n'
        '    reviews = pd.read_parquet(interim / "reviews.parquet")',
        'truth_path = config.data_dir("interim") / "truth" / "session_truth.parquet"\n'
        'truth = pd.read_parquet(truth_path) if truth_path.is_file() else None',
        'params = json.loads((config.data_dir("interim") / "source.json").read_text())["params"]',
        'users = pd.read_parquet(collect.interim_path("users"))',
    ]
    assert len(interim_path_reads(earlier_notebook_code)) == 6
    through_the_loaders = [
        'users = collect.load_interim("users") if collect.has_interim("users") else None',
        'events = config.read_table("interim", "clean_events", made_by="03_preprocessing")',
        'print(f"writing to {config.data_dir(\'interim\')}")',
        'meta = json.loads((config.data_dir("processed") / "features.json").read_text())',
    ]
    assert interim_path_reads(through_the_loaders) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_read_interim_files_through_the_loaders(path):
    code = [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"]
    reads = interim_path_reads(code)
    assert not reads, (
        f"{path.name} reads data/interim files directly, which misses their encrypted form: "
        f"{reads}. Use collect.load_interim(name), collect.has_interim(name) for a table a source "
        "may not have, and collect.read_source_info() for source.json.")


def test_only_the_loaders_open_files_in_data_interim():
    def reads_in(path) -> list[str]:
        # each function on its own: two functions may use the same name for different paths
        source = path.read_text(encoding="utf-8")
        return [read for node in ast.parse(source).body
                for read in interim_path_reads([ast.get_source_segment(source, node)])]

    reads = {str(path.relative_to(ROOT)): found for module, path in MODULES.items()
             if module not in LOADERS and (found := reads_in(path))}
    assert not reads, (f"direct reads of data/interim files, which miss their encrypted form: {reads}; "
                       "go through utils.data.collect's loaders")
