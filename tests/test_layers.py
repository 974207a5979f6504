"""The architecture of ``utils``, read from the source with ``ast`` (nothing is imported).

- Layers, lowest first: core < data < models < tasks < report < cli (utils/cli.py and
  utils/__main__.py). A module imports only from its own layer or lower ones, including imports
  inside functions.
- No import cycles between modules.
- Only utils/report/ names notebooks (the pipeline says which notebook needs what); everywhere
  else a missing file is described by the step that writes it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "utils"
LAYERS = ("core", "data", "models", "tasks", "report", "cli")
TOP = {"utils.cli", "utils.__main__"}  # the cli layer
NOTEBOOK_STEM = re.compile(r"\b\d\d_[a-z][a-z_]+")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer(module: str) -> int:
    """Position in LAYERS; the bare package ``utils`` sits at the bottom."""
    if module in TOP:
        return LAYERS.index("cli")
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else 0


def _known(name: str) -> str:
    """The longest prefix of a dotted name that is a module of utils."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(module: str) -> list[tuple[int, str]]:
    """(line, imported utils module) for every import in ``module``, at any depth."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y, from .. import z
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from utils.data import simulate` imports the module utils.data.simulate
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                       for a in node.names]
        else:
            continue
        found += [(node.lineno, _known(t)) for t in targets
                  if t == "utils" or t.startswith("utils.")]
    return [(line, target) for line, target in found if target != module]


GRAPH = {module: imports(module) for module in MODULES}


def test_every_module_has_a_layer():
    strays = [m for m in MODULES
              if m not in TOP and m != "utils" and m.split(".")[1] not in LAYERS]
    assert not strays, f"modules outside the layers {LAYERS}: {strays}; move them into one"


def test_modules_import_only_their_own_layer_or_lower_ones():
    violations = [
        f"{MODULES[m].relative_to(ROOT)}:{line}: {m} ({LAYERS[layer(m)]}) imports {target} "
        f"({LAYERS[layer(target)]})"
        for m, found in GRAPH.items() for line, target in found if layer(target) > layer(m)]
    assert not violations, ("imports from a higher layer (order: " + " < ".join(LAYERS)
                            + "):\n" + "\n".join(violations))


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles():
    graph = {m: sorted({t for _, t in found}) for m, found in GRAPH.items()}
    cycles = _cycles(graph)
    described = []
    for members in cycles:
        described.append("cycle between " + ", ".join(members) + ":")
        described += [f"  {MODULES[m].relative_to(ROOT)}:{line}: {m} imports {target}"
                      for m in members for line, target in GRAPH[m] if target in members]
    assert not cycles, "\n".join(described)


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_only_the_report_layer_names_notebooks():
    offenders = []
    for module, path in MODULES.items():
        if module.startswith("utils.report"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            offenders += [f"{path.relative_to(ROOT)}:{number}: {stem!r}"
                          for stem in NOTEBOOK_STEM.findall(line)]
    assert not offenders, (
        "notebook names outside utils/report/ (say which step writes a file, or that the "
        "notebooks writing it must run first, instead):\n" + "\n".join(offenders))
