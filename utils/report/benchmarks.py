"""The speed benchmarks, run by ``beauty benchmark data|study|recsys|report|scale``.

- data: the simulator's events per second and the REES46 conversion against pandas.read_csv
  (written to reports/metrics/benchmark_data.json);
- study: notebooks 04-06 through the pipeline, then their run times (reports/runs.json) and the
  training speed of each model (05's recorded metrics);
- recsys: the next-item benchmark on Amazon Beauty or any file in the S3-Rec format (writes
  reports/metrics/benchmark_recsys.json, or the file given with --out);
- report: the whole report from a cold start (a fresh work folder: no data, no saved trials), its
  time per notebook against the goals, written to reports/metrics/benchmark_report.json; the
  folder can be kept for ``beauty results``;
- scale: the purchase study's out-of-core path at 1M, 5M and 20.7M events, each stage's time
  and peak memory (utils.report.scale; reports/metrics/benchmark_scale.json).

Each benchmark runs as its own process, ``python -m ...``, exactly as a person would type it, so
that the peak memory a benchmark reports is its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from utils.core import config
from utils.core.files import write_json_atomic

BENCHMARKS = ("data", "study", "recsys", "report", "scale")
# the time goals of a report on a 2-core laptop, in seconds: (whole report, each notebook)
REPORT_GOALS = {"workshop": (600, 120), "smoke": (180, None)}
STUDY_NOTEBOOKS = ("04_feature_engineering", "05_rnn_vs_lstm", "06_evaluation")
TRAINING_NOTEBOOK = "05_rnn_vs_lstm"


def commands(name: str, *, events: int = 1_000_000, rows: int = 20_000_000,
             profile: str = config.DEFAULT_PROFILE, seeds: int = 3, resume: bool = False,
             scale: tuple[str, ...] = (), **recsys) -> list[list[str]]:
    """The ``python -m ...`` command lines (without ``python``) that benchmark ``name`` runs.

    ``recsys`` takes the options of ``python -m utils.tasks.recommend --benchmark`` that are set
    (dataset, models, epochs, patience, search, batching, out, published); paths are made
    absolute, as the command runs in the project folder. ``scale`` is passed on to
    ``python -m utils.report.scale``."""
    if name == "data":
        return [["-m", "utils.data.simulate", "--benchmark", "--events", str(events)],
                ["-m", "utils.data.rees46", "--benchmark-rees46", "--rows", str(rows)]]
    if name == "study":
        first, last = STUDY_NOTEBOOKS[0][:2], STUDY_NOTEBOOKS[-1][:2]
        return [["-m", "utils", "report", "--profile", profile, "--only", f"{first}-{last}"]]
    if name == "recsys":
        paths = ("dataset", "out", "published")
        options = [part for key, value in recsys.items() if value is not None
                   for part in (f"--{key}", str(Path(value).resolve()) if key in paths else str(value))]
        return [["-m", "utils.tasks.recommend", "--benchmark", "--seeds", str(seeds), *options,
                 *(["--resume"] if resume else [])]]
    if name == "report":
        return [["-m", "utils", "report", "--profile", profile]]
    if name == "scale":
        return [["-m", "utils.report.scale", *scale]]
    raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")


def run(name: str, **options) -> int:
    """Run benchmark ``name``: each of its commands in turn, stopping at the first that fails;
    the study then prints ``speed_report()``. Returns the exit status."""
    if name == "report":
        return run_report(**options)
    for command in commands(name, **options):
        print("$ python " + " ".join(command), flush=True)
        status = subprocess.run([sys.executable, *command], cwd=config.PROJECT_ROOT).returncode
        if status:
            print(f"error: `python {' '.join(command)}` exited with status {status}",
                  file=sys.stderr)
            return status
    if name == "study":
        print(speed_report())
    return 0


def speed_report(reports: str | Path | None = None) -> str:
    """The run times of notebooks 04-06 (reports/runs.json) and, for each model of notebook 05,
    sessions trained per second, mean training seconds and validation ROC-AUC (its recorded
    metrics), as a plain-text table. ``reports`` defaults to the work folder's reports/."""
    reports = Path(reports) if reports else config.reports_dir()
    runs_path = reports / "runs.json"
    runs = json.loads(runs_path.read_text(encoding="utf-8"))["notebooks"] if runs_path.is_file() else {}
    lines = [f"{'notebook':24s} {'seconds':>8s}  profile"]
    for stem in STUDY_NOTEBOOKS:
        run = runs.get(stem)
        lines.append(f"{stem:24s} {run['seconds']:8.1f}  {run['profile']}" if run
                     else f"{stem:24s} {'not run':>8s}")
    if all(stem in runs for stem in STUDY_NOTEBOOKS):
        lines.append(f"{'04-06 together':24s} {sum(runs[s]['seconds'] for s in STUDY_NOTEBOOKS):8.1f}")
    if not runs_path.is_file():
        lines = [f"no {runs_path}: the notebooks' run times are unknown"]

    metrics_path = reports / "metrics" / f"{TRAINING_NOTEBOOK}.json"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{metrics_path} is missing: run notebook {TRAINING_NOTEBOOK} "
                                "first (`beauty benchmark study` runs 04-06)")
    recorded = json.loads(metrics_path.read_text(encoding="utf-8"))["metrics"]
    lines.append(f"\n{'model':10s} {'points/s':>10s} {'train s (mean)':>14s}  validation ROC-AUC")
    for kind, value in recorded.items():
        if isinstance(value, dict) and "points_per_second" in value:  # one entry per model
            lines.append(f"{kind:10s} {value['points_per_second']:10.0f} "
                         f"{value['train_seconds_mean']:14.1f}  {value['validation_auc_mean']:.4f} "
                         f"+/- {value['validation_auc_std']:.4f}")
    return "\n".join(lines)


def run_report(profile: str = config.DEFAULT_PROFILE, keep: str | os.PathLike | None = None) -> int:
    """Build the whole report of ``profile`` from a cold start in a fresh work folder, then write
    its times (and the load of the machine before it began) to
    reports/metrics/benchmark_report.json of the work folder and print them against the goals.

    The fresh folder is a temporary one, or ``keep`` (new or empty), which is kept and gets the
    benchmark_report.json, so that ``beauty results --reports KEEP/reports`` shows the run that
    was timed and its times."""
    if keep is not None and Path(keep).is_dir() and any(Path(keep).iterdir()):
        raise ValueError(f"{keep} is not empty: the benchmark needs a cold work folder; name a new one")
    load_before = os.getloadavg()[0]
    if keep:
        folder = contextlib.nullcontext(str(keep))
    else:
        folder = tempfile.TemporaryDirectory(prefix="benchmark-report-")
    with folder as cold:
        command = commands("report", profile=profile)[0]
        print(f"$ BEAUTY_WORKDIR={cold} python " + " ".join(command), flush=True)
        started = time.perf_counter()
        status = subprocess.run([sys.executable, *command], cwd=config.PROJECT_ROOT,
                                env={**os.environ, "BEAUTY_WORKDIR": cold}).returncode
        wall = time.perf_counter() - started
        runs = json.loads((Path(cold) / "reports" / "runs.json").read_text(encoding="utf-8"))["notebooks"]
    if status:
        print(f"error: the report exited with status {status}", file=sys.stderr)
        return status
    result = {"profile": profile, "total_s": round(sum(r["seconds"] for r in runs.values()), 1),
              "wall_s": round(wall, 1), "cpus": os.cpu_count(), "load_before": round(load_before, 2),
              "notebooks": {stem: round(r["seconds"], 1) for stem, r in runs.items()}}
    # the record goes with the run it timed when that run is kept, else to the work folder
    metrics = Path(keep) / "reports" / "metrics" if keep else config.reports_dir("metrics")
    out = metrics / "benchmark_report.json"
    write_json_atomic(out, result)
    print(report_table(result))
    print(f"written to {out}")
    return 0


def report_table(result: dict) -> str:
    """A benchmark_report.json as text, each time against its goal."""
    total_goal, each_goal = REPORT_GOALS.get(result["profile"], (None, None))

    def verdict(seconds, goal):
        if goal is None:
            return ""
        return "  within the goal" if seconds <= goal else f"  over the {goal} s goal"

    lines = [f"profile {result['profile']}, {result['cpus']} CPUs, load average "
             f"{result['load_before']} before the run (0 is idle)", f"{'notebook':28s} {'seconds':>8s}"]
    lines += [f"{stem:28s} {seconds:8.1f}{verdict(seconds, each_goal)}"
              for stem, seconds in result["notebooks"].items()]
    lines.append(f"{'all notebooks':28s} {result['total_s']:8.1f}{verdict(result['total_s'], total_goal)}")
    return "\n".join(lines)
