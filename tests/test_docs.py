"""The README and docs/ keep their promises: the README is short and every command it names
exists; every citation of docs/DESIGN.md in the code names a section that exists; the results
page is generated, not typed."""

from __future__ import annotations

import argparse
import re

import pytest

from utils import cli
from utils.core import config

ROOT = config.PROJECT_ROOT
README = ROOT / "README.md"
DESIGN = ROOT / "docs" / "DESIGN.md"
README_LIMIT = 8 * 1024  # bytes


def code_in(markdown: str) -> str:
    """The text of the fenced blocks and inline code spans of a Markdown text."""
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", markdown, flags=re.S | re.M)
    without_fences = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    return "\n".join(fenced + re.findall(r"`([^`\n]+)`", without_fences))


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-zA-Z][\w-]*):", makefile, flags=re.M))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    return {slug(h) for h in re.findall(r"^#+ (.+)$", markdown, flags=re.M)}


def test_the_readme_is_at_most_8_kb():
    assert len(README.read_bytes()) <= README_LIMIT, (
        f"README.md is {len(README.read_bytes())} bytes; keep it under {README_LIMIT}: move detail "
        "into docs/DESIGN.md or data/README.md")


def test_every_make_target_the_readme_names_exists():
    named = set(re.findall(r"(?:^|\s)make ([a-z][\w-]*)", code_in(README.read_text(encoding="utf-8")),
                           flags=re.M))
    assert {"report", "test", "results", "setup"} <= named
    missing = named - make_targets()
    assert not missing, f"README.md names make targets that do not exist: {missing}"


def test_every_beauty_subcommand_the_readme_names_exists():
    commands = subcommands(cli.build_parser())
    named = re.findall(r"(?:^|\s)beauty ([a-z][\w-]*)(?: ([a-z][\w|]*))?",
                       code_in(README.read_text(encoding="utf-8")), flags=re.M)
    assert {"report", "results", "benchmark"} <= {command for command, _ in named}
    for command, sub in named:
        assert command in commands, f"README.md names `beauty {command}`, which does not exist"
        inner = subcommands(commands[command])
        for word in sub.split("|") if inner and sub else []:
            assert word in inner, f"README.md names `beauty {command} {word}`, which does not exist"


def test_the_readme_links_to_files_that_exist():
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text(encoding="utf-8"))
    assert {"docs/DESIGN.md", "docs/results.md", "docs/results-full.md", "data/README.md"} <= set(links)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_readme_types_no_result():
    text = README.read_text(encoding="utf-8")
    numbers = re.findall(r"\b0\.\d{2,}\b", text)  # metrics such as 0.870 live in docs/results.md
    assert not numbers, f"README.md holds result-like numbers {numbers}; they belong in docs/results.md"


def citations() -> list[tuple[str, str]]:
    """(file, anchor or '') for every mention of docs/DESIGN.md in the code and the notebooks."""
    found = []
    for path in [*sorted((ROOT / "utils").rglob("*.py")), *sorted((ROOT / "notebooks").glob("*.ipynb"))]:
        text = path.read_text(encoding="utf-8")
        found += [(str(path.relative_to(ROOT)), anchor)
                  for anchor in re.findall(r"docs/DESIGN\.md(?:#([\w-]+))?(?!\])", text)]
    return found


def test_every_citation_of_design_names_a_section_that_exists():
    sections = anchors(DESIGN.read_text(encoding="utf-8"))
    assert citations(), "the code cites docs/DESIGN.md nowhere: this test would check nothing"
    bare = [path for path, anchor in citations() if not anchor]
    assert not bare, f"cite a section, docs/DESIGN.md#<section>, not the whole file: {bare}"
    wrong = [(path, anchor) for path, anchor in citations() if anchor not in sections]
    assert not wrong, f"citations of sections docs/DESIGN.md does not have: {wrong}"


@pytest.mark.parametrize("name", ["DESIGN.md", "results.md", "results-full.md"])
def test_links_inside_docs_point_at_sections_that_exist(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    design = anchors(DESIGN.read_text(encoding="utf-8"))
    own = re.findall(r"\]\(#([\w-]+)\)", text)
    to_design = re.findall(r"\]\(DESIGN\.md#([\w-]+)\)", text)
    assert not set(own) - anchors(text) and not set(to_design) - design


@pytest.mark.parametrize("name", ["results.md", "results-full.md"])
def test_the_results_pages_are_generated(name):
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert text.startswith("# Results of one run\n") and "Generated by `beauty results" in text
    assert f"--out docs/{name}`" in text


def test_the_help_test_covers_every_subcommand():
    from tests.test_cli import HELP_COMMANDS

    tree = subcommands(cli.build_parser())
    expected = [[]] + [[name] for name in tree] + [
        [name, inner] for name, parser in tree.items() for inner in subcommands(parser)]
    assert sorted(expected) == sorted(HELP_COMMANDS)
