"""Every notebook follows the conventions: one parameters cell after the imports, no outputs."""

import re

import nbformat
import pytest

from utils.core import config
from utils.report import notebooks

NOTEBOOKS = notebooks.discover() + [config.NOTEBOOKS_DIR / "_template.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert code.index(tagged[0]) == 1, f"{path.name}: the parameters cell must follow the imports"
    assert "import" in code[0].source, f"{path.name}: the first code cell holds the imports"
    assert re.search(r"^profile = None", tagged[0].source, re.M), f"{path.name}: no profile knob"
    stem = path.stem
    assert f'recorder.start_run("{stem}", globals()' in code[2].source, (
        f"{path.name}: the cell after the parameters must call recorder.start_run(\"{stem}\", globals())")
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs; run `make strip`"
    assert nb.metadata["kernelspec"]["name"] == config.KERNEL_NAME
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines()]
    assert headings[0].startswith("# "), f"{path.name}: the first cell is the title"
    assert "## Summary" in headings and "## Exercises" in headings, f"{path.name}: Summary/Exercises"



@pytest.mark.parametrize("path", notebooks.discover(), ids=lambda p: p.stem)
def test_a_notebook_copy_of_the_embedding_sizes_is_the_library_one(path):
    """Notebooks that repeat a model builder repeat its EMBEDDING_SIZES too: the copy must match."""
    import ast

    from utils.models.sequence import EMBEDDING_SIZES

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and "EMBEDDING_SIZES =" in cell.source:
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "EMBEDDING_SIZES"
                                                        for t in node.targets):
                    assert ast.literal_eval(node.value) == EMBEDDING_SIZES, path.name
