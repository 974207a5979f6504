"""How the purchase study's cost grows with the size of the log: ``beauty benchmark scale``.

For each size (events), a simulated shop of that size is written as REES46 monthly CSVs, then
timed stage by stage, each stage in its own process so that its peak memory is its own:

- convert: ``convert_rees46`` (checks, quarantine, duplicates, monthly Parquet);
- preprocess: ``utils.data.partitioned.preprocess`` on pandas (buckets one after the other);
- dask_1, dask_2: the same on a Dask LocalCluster of one and of two worker processes (the
  workers' peak memory is measured apart from the client's);
- train: 05's RNN and LSTM trained from the Parquet shards through tf.data for a fixed number
  of epochs, then scored on the test decision points.

Results go to reports/metrics/benchmark_scale.json after every stage, so a run that is stopped
resumes where it was (``--again`` reruns everything); ``plot`` draws time and peak memory
against size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from utils.core import config
from utils.core.files import write_json_atomic

STAGES = ("convert", "preprocess", "dask_1", "dask_2", "train")
KINDS = ("rnn", "lstm")
# trimmed to fit a 2-core machine: one fixed setting, no search, one seed, few epochs
TRAINING = {"units": 32, "batch_size": 512, "learning_rate": 1e-3}


def _peak_mib(who=resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # KiB on Linux


def stage_peak(stage: str, figures: dict) -> float:
    """A stage's peak memory in MiB: its process's; on Dask, the client's plus each worker at the
    largest worker's peak (a bound on all of them together: their peaks need not coincide)."""
    if stage.startswith("dask_"):
        return figures["peak_mib"] + int(stage.removeprefix("dask_")) * figures["children_peak_mib"]
    return figures["peak_mib"]


def work_seconds(figures: dict) -> float:
    """The seconds of a preprocessing stage's own steps: without starting a Dask cluster, the
    identity check against pandas, or starting Python."""
    return sum(figures["step_seconds"].values())


def make_data(folder: Path, events: int, seed: int = 0) -> dict:
    """A simulated shop of about ``events`` events over Oct 2019 - Feb 2020, as REES46 CSVs in
    folder/csv; returns its size and visitors per month."""
    import pandas as pd

    from utils.data.rees46 import write_rees46_csv
    from utils.data.simulate import simulate_shop

    pilot = simulate_shop(n_users=2000, n_days=150, seed=seed)
    n_users = int(np.ceil(events * 2000 / len(pilot.events)))
    del pilot
    log = simulate_shop(n_users=n_users, n_days=150, seed=seed).events
    files = write_rees46_csv(log, folder / "csv")
    month = log["event_time"].dt.tz_localize(None).to_numpy("datetime64[M]")
    visitors = pd.Series(log["user_id"].to_numpy()).groupby(month).nunique()
    return {"n_users": n_users, "events": len(log), "files": [f.name for f in files],
            "csv_mib": round(sum(f.stat().st_size for f in files) / 2**20, 1),
            "visitors_per_month": {str(m)[:7]: int(v) for m, v in visitors.items()}}


def run_stage(stage: str, folder: Path, epochs: int) -> dict:
    """One stage on the data in ``folder``; returns its figures (seconds, peak memory, ...)."""
    started = time.perf_counter()
    out: dict = {}
    if stage == "convert":
        from utils.data.rees46 import convert_rees46

        report = convert_rees46(folder / "csv", folder / "events")
        out = {"rows_read": report.rows_read, "rows_kept": report.rows_kept,
               "duplicates_removed": report.duplicates_removed}
    elif stage == "preprocess" or stage.startswith("dask_"):
        from utils.data import partitioned

        workers = int(stage.removeprefix("dask_")) if stage.startswith("dask_") else 1
        summary = partitioned.preprocess(
            folder / "events", folder / ("shards" if stage == "preprocess" else f"shards_{stage}"),
            engine="pandas" if stage == "preprocess" else "dask", workers=workers)
        out = {k: summary[k] for k in ("events", "sessions", "users", "points", "points_train",
                                       "points_test", "buckets")}
        out["step_seconds"] = summary["seconds"]
        if stage.startswith("dask_"):
            # the Dask output must be the pandas output: same shards, row for row
            out["same_as_pandas"] = _same_shards(folder / "shards", folder / f"shards_{stage}")
            shutil.rmtree(folder / f"shards_{stage}", ignore_errors=True)
    elif stage == "train":
        from sklearn.metrics import roc_auc_score

        from utils.models import shards
        from utils.models.sequence import build_sequence_model

        summary = json.loads((folder / "shards" / "summary.json").read_text(encoding="utf-8"))
        for kind in KINDS:
            config_ = dict(TRAINING)
            batch_size = config_.pop("batch_size")
            fit = shards.fit_from_shards(build_sequence_model, kind, folder / "shards", summary, epochs,
                                         batch_size=batch_size, **config_)
            labels, prob = shards.predict_points(fit["model"], folder / "shards", "test", summary)
            out[kind] = {"validation_auc": [round(a, 4) for a in fit["validation_auc"]],
                         "test_auc": round(float(roc_auc_score(labels, prob)), 4),
                         "train_seconds": round(fit["train_seconds"], 1),
                         "score_seconds": round(fit["score_seconds"], 1),
                         "points_per_second": round(summary["points_train"] * epochs / fit["train_seconds"])}
        out["epochs"], out["setting"] = epochs, TRAINING
    else:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    out["wall_seconds"] = round(time.perf_counter() - started, 2)
    out["peak_mib"] = _peak_mib()
    out["children_peak_mib"] = _peak_mib(resource.RUSAGE_CHILDREN)  # Dask's worker processes
    return out


def _same_shards(a: Path, b: Path) -> bool:
    import pandas as pd
    import pyarrow.parquet as pq

    for kind in ("points", "sessions"):
        files_a, files_b = sorted((a / kind).glob("*.parquet")), sorted((b / kind).glob("*.parquet"))
        if [f.name for f in files_a] != [f.name for f in files_b]:
            return False
        for fa, fb in zip(files_a, files_b, strict=True):  # one shard at a time: memory stays small
            if not pq.read_table(fa).equals(pq.read_table(fb)):
                return False
    return bool(pd.read_json(a / "encoder.json", typ="series").equals(
        pd.read_json(b / "encoder.json", typ="series")))


def run(sizes: list[int], folder: str | os.PathLike, out: str | os.PathLike | None = None,
        epochs: int = 2, stages: tuple[str, ...] = STAGES, again: bool = False) -> dict:
    """Every stage at every size (smallest first), each in its own process, recorded in ``out``
    (default reports/metrics/benchmark_scale.json) after each; stages already recorded for a
    size are skipped unless ``again``."""
    out = Path(out) if out else config.reports_dir("metrics") / "benchmark_scale.json"
    record = json.loads(out.read_text(encoding="utf-8")) if out.is_file() and not again else {}
    record.setdefault("runs", {})
    record.update(cpus=os.cpu_count(), memory_gib=round(os.sysconf("SC_PAGE_SIZE")
                                                        * os.sysconf("SC_PHYS_PAGES") / 2**30, 1))
    for size in sorted(sizes):
        here = Path(folder) / f"events_{size}"
        done = record["runs"].setdefault(str(size), {})
        todo = [s for s in ("data", *stages) if s not in done]
        for stage in todo:
            load = round(os.getloadavg()[0], 2)
            print(f"$ {size:,} events: {stage} (load average {load})", flush=True)
            command = [sys.executable, "-m", "utils.report.scale", "--stage", stage, "--folder", str(here),
                       "--events", str(size), "--epochs", str(epochs)]
            result = subprocess.run(command, capture_output=True, text=True, cwd=config.PROJECT_ROOT)
            if result.returncode:
                raise RuntimeError(f"{stage} at {size:,} events failed:\n{result.stderr[-4000:]}")
            done[stage] = {**json.loads(result.stdout.strip().splitlines()[-1]), "load_before": load}
            write_json_atomic(out, record)
            print(json.dumps(done[stage]), flush=True)
    print(table(record))
    print(f"written to {out}")
    return record


def table(record: dict) -> str:
    """Seconds and peak memory of each stage at each size, as text."""
    lines = [f"{'events':>12s} {'stage':12s} {'seconds':>9s} {'peak MiB':>9s}  notes"]
    for size, stages in sorted(record["runs"].items(), key=lambda kv: int(kv[0])):
        for stage in STAGES:
            if stage not in stages:
                continue
            r = stages[stage]
            peak = stage_peak(stage, r)
            note = ""
            if stage.startswith("dask_"):
                note = (f"same as pandas: {r['same_as_pandas']}; "
                        f"workers' peak {r['children_peak_mib']:,.0f} MiB")
            if stage == "train":
                note = "; ".join(f"{k} test ROC-AUC {r[k]['test_auc']:.3f} ({r['epochs']} epochs)"
                                 for k in KINDS)
            lines.append(f"{int(size):>12,} {stage:12s} {r['wall_seconds']:9.1f} {peak:9,.0f}  {note}")
    return "\n".join(lines)


def data_benchmark_lines(figures: dict) -> list[str]:
    """benchmark_data.json (``beauty benchmark data``) as Markdown lines."""
    load = figures["load_average_1min_before"]
    return [f"`{figures['command']}`: {figures['rows']:,} generated rows ({figures['csv_mib']:,.0f} MiB "
            f"of CSV), {figures['cpus']} CPUs, load average {load} before.", "",
            "| reader | seconds | peak MiB |", "|---|---|---|",
            *[f"| {name}: {what} | {figures[name + '_s']:.1f} | "
              f"{figures[name.split('_')[0] + '_peak_mib']:,.0f} |"
              for name, what in figures["tasks"].items()],
            "", f"The conversion takes {figures['convert_s'] / figures['pandas_read_csv_s']:.1f} times the "
            f"time of `pandas.read_csv` at {figures['convert_memory_share_of_pandas']:.0%} of its peak "
            f"memory; Arrow's parser alone takes {figures['pyarrow_read_csv_s']:.1f} s."]


def measured_markdown(record: dict, data_figures: dict | None) -> str:
    """The measured section of docs/scale.md: the stage table, the simulated data and the
    conversion benchmark, every number from the recorded runs."""
    lines = ["Written by `python -m utils.report.scale --docs docs/scale.md` from the records of "
             "`beauty benchmark scale`" + (" and `beauty benchmark data`" if data_figures else "")
             + f" (benchmark_scale.json, benchmark_data.json); {record['cpus']} CPUs, "
             f"{record['memory_gib']} GiB of memory. `seconds` is each stage's process from start to "
             "end; the Dask rows compare the preprocessing steps alone. `peak MiB` is the stage's "
             "process, and on Dask the client plus each worker at the largest worker's peak. `load` "
             "is the load average before each stage (0 is idle, 2 is both cores busy).", "",
             "| events | stage | seconds | peak MiB | load | notes |", "|---|---|---|---|---|---|"]
    for size, stages in sorted(record["runs"].items(), key=lambda kv: int(kv[0])):
        data = stages.get("data", {})
        for stage in STAGES:
            if stage not in stages:
                continue
            r = stages[stage]
            note = ""
            if stage == "preprocess":
                note = (f"{r['buckets']} buckets; {r['sessions']:,} sessions, {r['points']:,} decision "
                        f"points; steps {work_seconds(r):.0f} s: "
                        + ", ".join(f"{k} {v:.0f} s" for k, v in r["step_seconds"].items()))
            if stage.startswith("dask_"):
                speed_up = work_seconds(stages["preprocess"]) / work_seconds(r)
                note = (f"output identical to pandas: {'yes' if r['same_as_pandas'] else 'NO'}; steps "
                        f"{work_seconds(r):.0f} s, {speed_up:.2f} times as fast as pandas")
                if stage == "dask_2" and "dask_1" in stages:
                    note += f", {work_seconds(stages['dask_1']) / work_seconds(r):.2f} times one worker"
                note += f"; largest worker {r['children_peak_mib']:,.0f} MiB"
            if stage == "train":
                note = "; ".join(f"{k.upper()} test ROC-AUC {r[k]['test_auc']:.3f}, "
                                 f"{r[k]['points_per_second']:,} points/s" for k in KINDS)
                note += f" ({r['epochs']} epochs, {r['setting']['units']} units)"
            events = f"{data['events']:,}" if data else size
            lines.append(f"| {events} | {stage} | {r['wall_seconds']:.1f} | {stage_peak(stage, r):,.0f} | "
                         f"{r['load_before']} | {note} |")
    lines += ["", "The simulated shops, visitors each month:", ""]
    for _, stages in sorted(record["runs"].items(), key=lambda kv: int(kv[0])):
        if "data" in stages:
            d = stages["data"]
            lines.append(f"- {d['events']:,} events, {d['n_users']:,} registered shoppers: "
                         + ", ".join(f"{m} {v:,}" for m, v in d["visitors_per_month"].items()))
    if data_figures:
        lines += ["", "### The conversion against `pandas.read_csv`", "", *data_benchmark_lines(data_figures)]
    return "\n".join(lines)


MARKS = ("<!-- measured: start -->", "<!-- measured: end -->")


def write_docs(record: dict, data_figures: dict | None, page: str | os.PathLike) -> Path:
    """Replace the measured section of ``page`` (between MARKS) and draw figures/scale.png
    beside it."""
    page = Path(page)
    text = page.read_text(encoding="utf-8")
    start, end = text.index(MARKS[0]) + len(MARKS[0]), text.index(MARKS[1])
    page.write_text(text[:start] + "\n" + measured_markdown(record, data_figures) + "\n" + text[end:],
                    encoding="utf-8")
    return plot(record, page.parent / "figures" / "scale.png")


def plot(record: dict, path: str | os.PathLike):
    """Time and peak memory of each stage against the number of events (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(record["runs"], key=int)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for stage in STAGES:
        have = [s for s in sizes if stage in record["runs"][s]]
        if not have:
            continue
        runs = [record["runs"][s][stage] for s in have]
        x = [record["runs"][s]["data"]["events"] for s in have]
        axes[0].plot(x, [r["wall_seconds"] for r in runs], marker="o", label=stage)
        axes[1].plot(x, [stage_peak(stage, r) / 1024 for r in runs],
                     marker="o", label=stage)
    axes[0].set(title="Time of each stage", xlabel="events (log scale)", ylabel="seconds (log scale)",
                xscale="log", yscale="log")
    axes[1].axhline(12, color="grey", linestyle=":", label="12 GB goal")
    axes[1].set(title="Peak memory of each stage", xlabel="events (log scale)",
                ylabel="peak resident memory (GiB)", xscale="log")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.report.scale", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_700_000],
                        help="events at each size (default 1M 5M 20.7M, REES46's size)")
    parser.add_argument("--folder", help="where the data of each size is written (default "
                        "data/raw/scale/ of the work folder); 20.7M events take about 6 GB")
    parser.add_argument("--epochs", type=int, default=2, help="training epochs of each model")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--out", help="default reports/metrics/benchmark_scale.json")
    parser.add_argument("--again", action="store_true", help="rerun stages already recorded")
    parser.add_argument("--plot", help="draw the recorded figures into this PNG file and stop")
    parser.add_argument("--docs", help="write the recorded figures into this page (docs/scale.md, "
                        "between its measured marks, with benchmark_data.json if present) and "
                        "figures/scale.png beside it, and stop")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folder = Path(args.folder) if args.folder else config.data_dir("raw") / "scale"
    if args.stage:  # the child process of one stage: prints its figures as JSON
        result = (make_data(folder, args.events) if args.stage == "data"
                  else run_stage(args.stage, folder, args.epochs))
        print(json.dumps({**result, "peak_mib": max(result.get("peak_mib", 0), _peak_mib())}))
        return 0
    out = Path(args.out) if args.out else config.reports_dir("metrics") / "benchmark_scale.json"
    if args.plot:
        print(plot(json.loads(out.read_text(encoding="utf-8")), args.plot))
        return 0
    if args.docs:
        data_path = out.with_name("benchmark_data.json")
        data_figures = json.loads(data_path.read_text(encoding="utf-8")) if data_path.is_file() else None
        print(write_docs(json.loads(out.read_text(encoding="utf-8")), data_figures, args.docs))
        return 0
    run(args.sizes, folder, out, args.epochs, tuple(args.stages), args.again)
    return 0


if __name__ == "__main__":
    sys.exit(main())
