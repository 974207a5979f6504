"""Record a notebook's headline numbers in reports/metrics/<notebook>.json.

A notebook calls ``start_run`` once, right after its parameters cell, then ``record`` for each
number worth reporting. Each ``record`` rewrites the JSON file atomically, so a crash halfway
leaves the numbers recorded so far, never a half-written file. Reports and tests read numbers
from these files only.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from utils.core import config
from utils.core.files import to_jsonable, write_json_atomic

TRACKED_PACKAGES = (
    "tensorflow", "keras", "numpy", "pandas", "pyarrow", "scikit-learn", "matplotlib", "papermill",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """The current commit, with '-dirty' when tracked files differ from it; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=config.PROJECT_ROOT,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=config.PROJECT_ROOT,
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


@dataclass
class Run:
    notebook: str
    profile: str
    params: dict
    data_source: str
    started: float = field(default_factory=time.perf_counter)
    started_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    commit: str = field(default_factory=lambda: git_commit())  # taken at the start, not at a save
    values: dict = field(default_factory=dict)
    fallbacks: list = field(default_factory=list)  # data the notebook could not get, and what it used
    headlines: list = field(default_factory=list)  # names of the values the report opens with
    key_figure: str | None = None  # the figure the report shows at readable size

    @property
    def path(self) -> Path:
        return config.reports_dir("metrics") / f"{self.notebook}.json"

    def payload(self) -> dict:
        return {
            "notebook": self.notebook,
            "metrics": self.values,
            "profile": self.profile,
            "seed": self.params.get("seed"),
            "data_source": self.data_source,
            "fallbacks": self.fallbacks,
            "headlines": self.headlines,
            "key_figure": self.key_figure,
            "parameters": self.params,
            "git_commit": self.commit,
            "packages": package_versions(),
            "started_at": self.started_at,
            "wall_time_s": round(time.perf_counter() - self.started, 3),
        }


_active: Run | None = None


def start_run(notebook: str, namespace: dict, data_source: str | None = None) -> Run:
    """Apply the profile to the notebook's knobs, seed everything and start the clock.

    ``namespace`` is the notebook's ``globals()``. The data source defaults to the notebook's
    ``source`` knob when it has one. Prints each knob the profile changed, so an edit of the
    parameters cell that a profile undoes is not a mystery.
    """
    global _active
    applied = config.apply_profile(notebook, namespace)
    profile, knobs = applied
    if applied.overrides:
        changes = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in applied.overrides.items())
        print(f"profile {profile} overrides: {changes}")
    config.seed_everything(int(knobs.get("seed", 0)))
    source = data_source or str(knobs.get("source", "none"))
    _active = Run(notebook=notebook, profile=profile, params=to_jsonable(knobs), data_source=source)
    _active.path.unlink(missing_ok=True)  # a rerun must not show numbers from an earlier run
    return _active


def active_run() -> Run:
    if _active is None:
        raise RuntimeError("no run started: call utils.core.recorder.start_run(<notebook>, globals()) first")
    return _active


def record(name: str, value, headline: bool = False) -> None:
    """Record one number, an interval ({"value", "ci_low", "ci_high"}) or a small table as a dict
    ({row: {column: value}}, e.g. models as rows and metrics as columns) for the active notebook.

    ``headline=True`` marks one of the notebook's one or two headline comparisons: the report
    opens with them, as tables, before any other value.
    """
    run = active_run()
    run.values[name] = to_jsonable(value)
    if headline and name not in run.headlines:
        run.headlines.append(name)
    write_json_atomic(run.path, run.payload())


def set_key_figure(name: str) -> None:
    """Mark the saved figure ``name`` as the notebook's key figure (shown large in the report)."""
    run = active_run()
    run.key_figure = name
    write_json_atomic(run.path, run.payload())


def record_fallback(message: str) -> None:
    """Say that the notebook used the simulator in place of data it could not get: printed
    under the cell, and shown in the report beside the notebook's results."""
    run = active_run()
    run.fallbacks.append(message)
    print(f"FALLBACK: {message}")
    write_json_atomic(run.path, run.payload())


def read_metrics(notebook: str) -> dict:
    """The recorded payload of one notebook (what reports and tests read)."""
    path = config.reports_dir("metrics") / f"{notebook}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no metrics recorded for {notebook}: {path} is missing; run the notebook")
    return json.loads(path.read_text(encoding="utf-8"))
