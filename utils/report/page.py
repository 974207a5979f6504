"""Build reports/index.html from what the notebooks left in reports/.

The page links each executed notebook (rendered to HTML), shows its recorded metrics and
parameters as tables, its run time and its figures as thumbnails. It uses relative links only,
so it opens from disk in any browser. ``python -m utils.report.page`` rebuilds it without running
anything.
"""

from __future__ import annotations

import html
import json
import sys
from datetime import datetime
from pathlib import Path

import nbformat

from utils.core import config
from utils.core.recorder import git_commit, package_versions
from utils.report.notebooks import discover

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { color: #8c2d5a; } h2 { border-bottom: 2px solid #8c2d5a; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
table.comparison { display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6eef2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status-ok { color: #2d7a2d; font-weight: bold; } .status-failed { color: #b00020; font-weight: bold; }
.status-missing { color: #888; }
.fallback { background: #fff4d6; border-left: 4px solid #e0a800; padding: 4px 8px; }
.figures img { width: 240px; border: 1px solid #ddd; margin: 4px; }
details { margin: .3rem 0 1rem; } .meta { color: #555; font-size: .9rem; }
"""


def format_value(value) -> str:
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


INTERVAL_KEYS = {"value", "ci_low", "ci_high", "mean_over_seeds", "std_over_seeds"}


def is_interval(value) -> bool:
    return isinstance(value, dict) and "value" in value and set(value) <= INTERVAL_KEYS


def format_cell(value) -> str:
    """A number, or an estimate with its interval: 0.87 [0.85, 0.89]."""
    if is_interval(value):
        text = format_value(value["value"])
        if "ci_low" in value and "ci_high" in value:
            text += f" [{format_value(value['ci_low'])}, {format_value(value['ci_high'])}]"
        return text
    return format_value(value)


def comparisons(values: dict, caption: str = "") -> list[tuple[str, list[str], dict[str, dict]]]:
    """Side-by-side tables from the recorded metrics, as (caption, columns, rows): at every level
    of nesting, the entries that map names to numbers (or intervals), grouped by their keys.
    {"rnn": {"auc": .8, "f1": .5}, "lstm": {...}} gives one table with a row per model and a
    column per metric; {"mase": {"lstm": {...}, "naive": {...}}} gives one captioned "mase"."""
    groups: dict[tuple, dict[str, dict]] = {}
    nested = []
    for name, value in values.items():
        if not isinstance(value, dict) or not value or is_interval(value):
            continue
        if all(isinstance(v, (int, float)) or v is None or is_interval(v) for v in value.values()):
            groups.setdefault(tuple(value), {})[name] = value
        else:
            nested.extend(comparisons(value, f"{caption}.{name}" if caption else name))
    return [(caption, list(columns), rows) for columns, rows in groups.items()] + nested


def comparison_table(caption: str, columns: list[str], rows: dict[str, dict]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in [caption, *columns])
    body = "".join(
        f"<tr><th>{html.escape(name)}</th>"
        + "".join(f"<td class=\"num\">{html.escape(format_cell(row[c]))}</td>" for c in columns)
        + "</tr>" for name, row in rows.items())
    return f"<table class=\"comparison\"><tr>{head}</tr>{body}</table>"


def table(rows: list[tuple[str, object]], headers: tuple[str, str], css_class: str) -> str:
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td class=\"num\">{html.escape(format_value(value))}</td></tr>"
        for name, value in rows
    )
    return (f"<table class=\"{css_class}\"><tr><th>{headers[0]}</th><th>{headers[1]}</th></tr>"
            f"{body}</table>")


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
        tmp = page.with_suffix(".html.tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(page)
    return page


def notebook_section(notebook: Path, runs: dict, reports: Path) -> str:
    stem = notebook.stem
    run = runs.get(stem)
    metrics_path = reports / "metrics" / f"{stem}.json"
    recorded = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else None
    page = render_executed(reports / "executed" / notebook.name)
    parts = [f"<section id=\"{stem}\"><h2>{html.escape(notebook_title(notebook))}</h2>"]
    if run:
        status = f"<span class=\"status-{run['status']}\">{run['status']}</span>"
        parts.append(f"<p class=\"meta\">{html.escape(notebook.name)}: {status} in "
                     f"{run['seconds']:.1f} s, profile {html.escape(run['profile'])}, "
                     f"finished {html.escape(run['finished_at'])}</p>")
        if run["status"] == "failed":
            parts.append(f"<pre>{html.escape(run['error'])}</pre>")
    else:
        parts.append(f"<p class=\"status-missing\">{html.escape(notebook.name)}: not run yet</p>")
    if page:
        link = page.relative_to(reports).as_posix()
        parts.append(f"<p><a href=\"{link}\">Open the executed notebook</a></p>")
    if recorded:
        parts.extend(f"<p class=\"fallback\">Fallback: {html.escape(message)}</p>"
                     for message in recorded.get("fallbacks", []))
        parts.append("<h3>Metrics</h3>")
        side_by_side = comparisons(recorded["metrics"])
        parts.extend(comparison_table(*t) for t in side_by_side)
        shown = tuple(f"{caption}.{row}." if caption else f"{row}."
                      for caption, _, rows in side_by_side for row in rows)
        rest = [(name, value) for name, value in flatten(recorded["metrics"])
                if not (name + ".").startswith(shown)]
        if rest:
            parts.append(table(rest, ("metric", "value"), "metrics"))
        parts.append("<details><summary>All recorded values, one per row</summary>"
                     + table(flatten(recorded["metrics"]), ("metric", "value"), "metrics")
                     + "</details>")
        parts.append(f"<p class=\"meta\">data source: {html.escape(recorded['data_source'])}; "
                     f"seed {recorded['seed']}; commit {html.escape(recorded['git_commit'])}; "
                     f"wall time {recorded['wall_time_s']:.1f} s</p>")
        parts.append("<details><summary>Parameters</summary>"
                     + table(sorted(recorded["parameters"].items()), ("parameter", "value"), "params")
                     + "</details>")
    figures = sorted((reports / "figures" / stem).glob("*.png"))
    if figures:
        links = [(f.relative_to(reports).as_posix(), html.escape(f.stem)) for f in figures]
        thumbs = "".join(f"<a href=\"{src}\"><img src=\"{src}\" alt=\"{name}\" title=\"{name}\"></a>"
                         for src, name in links)
        parts.append(f"<h3>Figures</h3><div class=\"figures\">{thumbs}</div>")
    parts.append("</section>")
    return "\n".join(parts)


def build_report() -> Path:
    reports = config.reports_dir()
    runs_path = reports / "runs.json"
    runs_log = json.loads(runs_path.read_text(encoding="utf-8")) if runs_path.is_file() else {}
    runs = runs_log.get("notebooks", {})
    notebooks = discover()
    versions = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                       for k, v in package_versions().items())
    toc = "".join(f"<li><a href=\"#{p.stem}\">{html.escape(p.stem)}</a></li>" for p in notebooks)
    body = "\n".join(notebook_section(p, runs, reports) for p in notebooks)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Beauty shopper behaviour: report</title>
<style>{STYLE}</style></head><body>
<h1>Predicting beauty shoppers' next steps: RNN vs LSTM</h1>
<p class="meta">Built {datetime.now().strftime("%Y-%m-%d %H:%M")}, commit {html.escape(git_commit())},
profile {html.escape(str(runs_log.get("last_profile", "none")))}.</p>
<details><summary>Package versions</summary><table>{versions}</table></details>
<ol>{toc}</ol>
{body}
</body></html>
"""
    index = reports / "index.html"
    tmp = index.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(index)
    return index


if __name__ == "__main__":
    print(build_report())
    sys.exit(0)
