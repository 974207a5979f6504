"""Build reports/index.html from what the notebooks left in reports/.

The page opens with the findings: for each notebook, the values it marked as headlines
(``recorder.record(..., headline=True)``) as tables and its key figure
(``plots.savefig(..., key=True)``) at readable size. Then, per notebook: run status, the executed
notebook (rendered to HTML), every recorded value and parameter (collapsed) and the other figures.
This module prepares plain data; the layout is templates/index.html.j2. Links are relative, so
the page opens from disk in any browser. ``python -m utils.report.page`` rebuilds it without
running anything.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
import nbformat

from utils.core import config
from utils.core.files import write_text_atomic
from utils.core.recorder import git_commit, package_versions
from utils.report.notebooks import discover

TEMPLATES = Path(__file__).resolve().parent / "templates"
ESTIMATE_KEYS = {"value", "ci_low", "ci_high", "mean_over_seeds", "std_over_seeds"}


def format_value(value) -> str:
    """A raw recorded value, compactly (the full list of values)."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return "" if value is None else str(value)


def flatten(values: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Nested metric dicts become dotted rows: {"lstm": {"auc": .8}} -> [("lstm.auc", .8)]."""
    rows = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows.extend(flatten(value, name + "."))
        else:
            rows.append((name, value))
    return rows


def is_estimate(value) -> bool:
    """An interval {"value", "ci_low", "ci_high"} and/or a spread {"mean_over_seeds", "std_over_seeds"}."""
    return (isinstance(value, dict) and bool(value) and set(value) <= ESTIMATE_KEYS
            and ("value" in value or "mean_over_seeds" in value))


def format_number(x) -> str:
    """Three decimals for the usual metric range; integers exactly; tiny or huge in e-notation."""
    if isinstance(x, (bool, int)):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        return f"{x:.3f}"
    return f"{x:.3g}"


def format_cell(value) -> str:
    """One table cell: 0.870 [0.853, 0.892] for an interval, 0.870 ± 0.012 for a spread over seeds."""
    if value is None:
        return "n/a"  # NaN and inf are recorded as None
    if isinstance(value, (int, float)):
        return format_number(value)
    if is_estimate(value):
        parts = []
        if "value" in value:
            text = format_cell(value["value"])
            if "ci_low" in value and "ci_high" in value:
                text += f" [{format_cell(value['ci_low'])}, {format_cell(value['ci_high'])}]"
            parts.append(text)
        if "mean_over_seeds" in value:
            text = format_cell(value["mean_over_seeds"])
            if "std_over_seeds" in value:
                text += f" ± {format_cell(value['std_over_seeds'])}"
            parts.append(text if not parts else f"seeds: {text}")
        return "\n".join(parts)  # both: the interval, and the spread over seeds below it
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def is_cell(value) -> bool:
    """A value shown in one table cell (anything but a dict of further values)."""
    return not isinstance(value, dict) or not value or is_estimate(value)


def headline_table(name: str, value) -> dict:
    """A headline as a table {"caption", "columns", "rows": [(row name, [cells])], "notes"}: a dict
    of dicts has a row per outer key (models, cases) and a column per inner key (metrics); a dict
    of numbers is one row, a number or an interval one cell, both named by the headline. Plain
    entries beside the rows of a dict of dicts (a sample size, say) become notes under the table."""
    if is_cell(value):
        return {"caption": None, "columns": ["value"], "rows": [(name, [format_cell(value)])], "notes": []}
    if all(is_cell(v) for v in value.values()):
        return {"caption": None, "columns": list(value),
                "rows": [(name, [format_cell(v) for v in value.values()])], "notes": []}
    rows = {key: v for key, v in value.items() if not is_cell(v)}
    columns = list(dict.fromkeys(column for row in rows.values() for column in row))
    return {"caption": name, "columns": columns,
            "rows": [(key, [format_cell(row[c]) if c in row else "" for c in columns])
                     for key, row in rows.items()],
            "notes": [(key, format_cell(v)) for key, v in value.items() if is_cell(v)]}


def headline_tables(metrics: dict, headlines: list[str]) -> list[dict]:
    """The tables of a notebook's headlines, in the order it marked them. Consecutive one-row
    headlines with the same columns (single values; or "rnn", "lstm" with the same metrics)
    share one table, a row each."""
    tables: list[dict] = []
    for name in headlines:
        if name not in metrics:
            continue
        table = headline_table(name, metrics[name])
        previous = tables[-1] if tables else None
        if (previous and table["caption"] is None and previous["caption"] is None
                and previous["columns"] == table["columns"]):
            previous["rows"].extend(table["rows"])
        else:
            tables.append(table)
    return tables


def notebook_title(path: Path) -> str:
    """The first markdown heading of a notebook, or its file name."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return path.stem


def render_executed(executed: Path) -> Path | None:
    """Convert an executed notebook to HTML (only when the notebook is newer than its page)."""
    if not executed.is_file():
        return None
    page = executed.with_suffix(".html")
    if not page.is_file() or page.stat().st_mtime < executed.stat().st_mtime:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        write_text_atomic(page, body)
    return page


def figure_entry(path: Path, reports: Path) -> dict:
    return {"name": path.stem, "src": path.relative_to(reports).as_posix()}


def notebook_entry(notebook: Path, run: dict | None, reports: Path) -> dict:
    """Everything the template shows about one notebook, as plain values."""
    stem = notebook.stem
    metrics_path = reports / "metrics" / f"{stem}.json"
    recorded = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else None
    executed = render_executed(reports / "executed" / notebook.name)
    figures = sorted((reports / "figures" / stem).glob("*.png"))
    key_name = (recorded or {}).get("key_figure")
    key_figure = next((f for f in figures if f.stem == key_name), None)
    entry = {
        "stem": stem, "file": notebook.name, "title": notebook_title(notebook), "run": run,
        "executed": executed.relative_to(reports).as_posix() if executed else None,
        "recorded": recorded is not None, "headlines": [], "fallbacks": [], "values": [],
        "parameters": [], "key_figure": figure_entry(key_figure, reports) if key_figure else None,
        "figures": [figure_entry(f, reports) for f in figures if f != key_figure],
    }
    if recorded:
        entry.update(
            headlines=headline_tables(recorded["metrics"], recorded.get("headlines", [])),
            fallbacks=recorded.get("fallbacks", []),
            values=[(name, format_value(v)) for name, v in flatten(recorded["metrics"])],
            parameters=[(name, format_value(v)) for name, v in sorted(recorded["parameters"].items())],
            data_source=recorded["data_source"], seed=recorded["seed"],
            commit=recorded["git_commit"], wall_time_s=recorded["wall_time_s"],
        )
    return entry


def render(context: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env.get_template("index.html.j2").render(context)


def build_report() -> Path:
    reports = config.reports_dir()
    runs_path = reports / "runs.json"
    runs_log = json.loads(runs_path.read_text(encoding="utf-8")) if runs_path.is_file() else {}
    runs = runs_log.get("notebooks", {})
    context = {
        "built": datetime.now().strftime("%Y-%m-%d %H:%M"),
        "commit": git_commit(),
        "profile": str(runs_log.get("last_profile", "none")),
        "versions": package_versions(),
        "notebooks": [notebook_entry(p, runs.get(p.stem), reports) for p in discover()],
    }
    index = reports / "index.html"
    write_text_atomic(index, render(context))
    return index


if __name__ == "__main__":
    print(build_report())
    sys.exit(0)
