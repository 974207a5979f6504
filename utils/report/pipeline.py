"""Execute the numbered notebooks in order with papermill, check the data they need first, and
build the HTML report. The `beauty` command (utils.cli) is the way in:

    beauty report --profile smoke            # everything
    beauty report --only 03-05               # a subset (03, 04 and 05)
    beauty report --from 04                  # resume from 04 onwards
    beauty check --profile full              # is every file the profile needs here?

Notebooks are found by name (``NN_*.ipynb`` in notebooks/), never from a hand-kept list; names
starting with ``_`` are templates and skipped. Each run appends to reports/runs.json, which the
report reads for run times and status. This is the one module that names notebooks (DATA_NEEDS);
elsewhere a missing file is described by the step that writes it (tests/test_layers.py checks).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from utils.core import config
from utils.core.files import write_json_atomic
from utils.report.notebooks import notebook_knobs


class NotebookFailed(RuntimeError):
    """A notebook raised: the message names the notebook, the cell and the executed copy."""


# What a notebook reads besides earlier notebooks' outputs, given its knobs: (dataset, required).
# A dataset is a utils.data.sources.REGISTRY name, or "rees46_raw" for the Kaggle CSVs a user puts in
# data/raw/rees46/. Without an optional one the notebook falls back to the simulator and says so.
DATA_NEEDS = {
    "01_data_collection": lambda k: (
        [("rees46_raw", True)] * (k["source"] == "rees46")
        + [("rees46_sample", True)] * (k["source"] == "rees46_sample")
        + [("sephora_extract", True)] * (k["catalogue"] == "sephora")),
    "07_recommendation": lambda k: (
        [("amazon_beauty", True), ("amazon_beauty_attributes", True)]
        * (k["dataset"] == "amazon_beauty")),
    "11_product_classification": lambda k: [("sephora_extract", True), ("amazon_all_beauty", False)],
}


@dataclass
class DataCheck:
    notebook: str
    dataset: str
    required: bool
    path: str = ""  # where it was found
    problem: str = ""  # why it is not here, and what to do

    @property
    def ok(self) -> bool:
        return not self.problem


def check_data(profile: str, notebooks: list[Path]) -> list[DataCheck]:
    """Find (and fetch into the cache, where a download or mirror can) every file ``notebooks``
    need under ``profile``. Fails fast on a bad profile; never raises for missing data."""
    from utils.data import rees46, sources

    config.load_profile(profile)
    checks = []
    for notebook in notebooks:
        rule = DATA_NEEDS.get(notebook.stem)
        knobs = notebook_knobs(notebook, profile)
        for dataset, required in rule(knobs) if rule else []:
            check = DataCheck(notebook.stem, dataset, required)
            try:
                found = (rees46.rees46_files() if dataset == "rees46_raw"
                         else [sources.fetch(dataset)])
                check.path = ", ".join(str(f) for f in found)
            except FileNotFoundError as exc:  # the REES46 folder is empty
                check.problem = str(exc)
            except sources.DownloadError as exc:
                source = sources.REGISTRY[dataset]
                check.problem = (
                    f"{exc}\nGet it: `beauty fetch {dataset}` where the network reaches its "
                    f"source, or put the file at {config.data_dir('external') / source.relpath}, "
                    f"or set ${sources.MIRROR_ENV} to a folder holding {source.relpath}.")
            checks.append(check)
    return checks


def describe_checks(checks: list[DataCheck]) -> str:
    if not checks:
        return "These notebooks need no data beyond the simulator and each other's outputs."
    lines = []
    for c in checks:
        status = "ok" if c.ok else ("MISSING" if c.required else "missing (optional)")
        lines.append(f"{c.notebook:<26} {c.dataset:<25} {status}{': ' + c.path if c.ok else ''}")
        if not c.ok:
            then = ("the run cannot start without it" if c.required
                    else "without it the notebook falls back to the simulator and says so")
            lines += [f"    {line}" for line in f"{c.problem}\n({then})".splitlines()]
    return "\n".join(lines)


@dataclass
class NotebookRun:
    notebook: str
    status: str  # "ok" or "failed"
    seconds: float
    executed: str
    error: str = ""
    finished_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))


def execute(notebook: Path, profile: str, kernel: str, output_dir: Path) -> NotebookRun:
    """Run one notebook with papermill; raise NotebookFailed naming the failing cell."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    executed = output_dir / notebook.name
    started = time.perf_counter()
    try:
        pm.execute_notebook(
            str(notebook), str(executed), parameters={"profile": profile}, kernel_name=kernel,
            cwd=str(notebook.parent), progress_bar=sys.stderr.isatty(), log_output=False,
        )
    except PapermillExecutionError as err:
        first_line = (err.source or "").strip().splitlines()[:1]
        message = (
            f"notebook {notebook.name} failed in cell [{err.exec_count}] "
            f"(cell {err.cell_index + 1} of the executed copy, which has the injected parameters "
            f"cell): {err.ename}: {err.evalue}\n"
            f"  the cell starts with: {first_line[0] if first_line else '(empty)'}\n"
            f"  the executed copy with the traceback: {executed}"
        )
        raise NotebookFailed(message) from err
    return NotebookRun(notebook.stem, "ok", round(time.perf_counter() - started, 2), str(executed))


def run_pipeline(profile: str, notebooks: list[Path], kernel: str = config.KERNEL_NAME) -> list[NotebookRun]:
    """Execute notebooks in order, stopping at the first failure; always rebuild the report."""
    from utils.report import page

    config.profile_path(profile)  # an unknown profile fails before anything runs
    config.load_profile(profile)
    output_dir = config.reports_dir("executed")
    runs: list[NotebookRun] = []
    try:
        for i, notebook in enumerate(notebooks, 1):
            print(f"[{i}/{len(notebooks)}] {notebook.name} (profile {profile}) ...", flush=True)
            started = time.perf_counter()
            try:
                result = execute(notebook, profile, kernel, output_dir)
            except NotebookFailed as err:
                seconds = round(time.perf_counter() - started, 2)
                runs.append(NotebookRun(notebook.stem, "failed", seconds,
                                        str(output_dir / notebook.name), str(err)))
                raise
            runs.append(result)
            print(f"      done in {result.seconds:.1f} s", flush=True)
    finally:
        record_runs(profile, runs)
        page.build_report()
    return runs


def record_runs(profile: str, runs: list[NotebookRun]) -> None:
    """Merge this run's notebooks into reports/runs.json (a subset run keeps the others)."""
    path = config.reports_dir() / "runs.json"
    log = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"notebooks": {}}
    for run in runs:
        log["notebooks"][run.notebook] = {**run.__dict__, "profile": profile}
    log["last_profile"] = profile
    write_json_atomic(path, log)
