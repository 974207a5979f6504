"""Execute the numbered notebooks in order with papermill and build the HTML report.

    python -m utils.pipeline --profile smoke            # everything
    python -m utils.pipeline --only 03-05               # a subset (03, 04 and 05)
    python -m utils.pipeline --from 04                  # resume from 04 onwards

Notebooks are found by name (``NN_*.ipynb`` in notebooks/), never from a hand-kept list; names
starting with ``_`` are templates and skipped. Each run appends to reports/runs.json, which the
report reads for run times and status.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.kernelspec import NoSuchKernel

from utils import config
from utils.metrics import write_json_atomic

NOTEBOOK_PATTERN = re.compile(r"^(\d{2})_[\w-]+\.ipynb$")


class NotebookFailed(RuntimeError):
    """A notebook raised: the message names the notebook, the cell and the executed copy."""


def discover(folder: Path | None = None) -> list[Path]:
    """Numbered notebooks in order; a duplicate number is an error, not a silent choice."""
    folder = folder or config.NOTEBOOKS_DIR
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_PATTERN.match(p.name))
    numbers = [p.name[:2] for p in found]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise ValueError(f"two notebooks share the number(s) {duplicates} in {folder}; renumber one")
    return found


def select(notebooks: list[Path], only: str | None = None, start: str | None = None) -> list[Path]:
    """Filter by ``only`` ("03", "03-05" or "01,04") and/or ``start`` ("04": 04 and later)."""
    chosen = notebooks
    if only:
        wanted: set[int] = set()
        for part in only.split(","):
            match = re.fullmatch(r"\s*(\d{1,2})\s*(?:-\s*(\d{1,2}))?\s*", part)
            if not match:
                raise ValueError(f"--only {only!r}: expected numbers like 03, 03-05 or 01,04")
            low = int(match.group(1))
            high = int(match.group(2) or low)
            wanted.update(range(low, high + 1))
        chosen = [p for p in chosen if int(p.name[:2]) in wanted]
    if start:
        if not start.strip().isdigit():
            raise ValueError(f"--from {start!r}: expected a notebook number like 04")
        chosen = [p for p in chosen if int(p.name[:2]) >= int(start)]
    if not chosen:
        names = ", ".join(p.stem for p in notebooks) or "none"
        raise ValueError(f"no notebook matches --only {only!r} --from {start!r}; notebooks: {names}")
    return chosen


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
    from utils import report

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
        report.build_report()
    return runs


def record_runs(profile: str, runs: list[NotebookRun]) -> None:
    """Merge this run's notebooks into reports/runs.json (a subset run keeps the others)."""
    path = config.reports_dir() / "runs.json"
    log = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"notebooks": {}}
    for run in runs:
        log["notebooks"][run.notebook] = {**run.__dict__, "profile": profile}
    log["last_profile"] = profile
    write_json_atomic(path, log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=config.resolve_profile_name(None),
                        help="smoke | workshop | full, or a path to a YAML profile "
                             "(default: $BEAUTY_PROFILE or workshop)")
    parser.add_argument("--only", help="notebooks to run, e.g. 03, 03-05 or 01,04")
    parser.add_argument("--from", dest="start", help="resume from this notebook number onwards")
    parser.add_argument("--kernel", default=config.KERNEL_NAME, help="Jupyter kernel to execute with")
    args = parser.parse_args(argv)
    try:
        notebooks = select(discover(), args.only, args.start)
        started = time.perf_counter()
        run_pipeline(args.profile, notebooks, args.kernel)
    except NotebookFailed as err:
        print(f"\nPIPELINE FAILED: {err}", file=sys.stderr)
        return 1
    except NoSuchKernel:
        print(f"error: no Jupyter kernel named {args.kernel!r}. Register it with `make kernel` "
              f"(python -m ipykernel install --sys-prefix --name {config.KERNEL_NAME}).",
              file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    index = config.reports_dir() / "index.html"
    print(f"\n{len(notebooks)} notebook(s) in {time.perf_counter() - started:.0f} s. Report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
