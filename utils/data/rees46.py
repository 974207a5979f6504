"""REES46 events: monthly Kaggle CSVs -> typed Parquet partitioned by month, with a quarantine.

``convert_rees46`` validates every row (``utils.data.validate``), drops exact duplicates, and
accounts for every row read; ``load_rees46_events`` reads the result back.
``python -m utils.data.rees46 --benchmark-rees46 --rows 20000000`` times the conversion on a
generated CSV of that size against a plain ``pandas.read_csv`` and writes the figures to
reports/metrics/benchmark_data.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from utils.core import config, crypto
from utils.core.files import atomic_path, replace_dir, write_json_atomic
from utils.data.schema import COLUMNS, EVENT_TYPES, SCHEMA, ValidationError
from utils.data.sources import _REES46_KAGGLE
from utils.data.validate import (
    DEFAULT_BLOCK_SIZE,
    HAS_ROWS,
    NOTHING_TO_READ,
    Deduplicator,
    ValidationReport,
    check_header,
    csv_form,
    read_events_csv,
    resolve_window,
    row_hashes,
)

# ---------------------------------------------------------------------------------------------
# REES46 events: CSV -> Parquet


@dataclass
class ConversionReport(ValidationReport):
    """What convert_rees46 did: the ValidationReport counts (``sources`` are the files read),
    the files skipped and where the output went. ``to_dict()`` gives the same as JSON data."""

    out_dir: Path | None = None
    quarantine_path: Path | None = None
    files_skipped: list[dict] = field(default_factory=list)  # {"file": name, "reason": ...}
    rows_by_month: dict[str, int] = field(default_factory=dict)  # as read back from the Parquet
    seconds: float = 0.0

    def check(self) -> None:
        """ValidationReport.check, and the Parquet files must hold exactly the rows kept."""
        super().check()
        written = sum(self.rows_by_month.values())
        if written != self.rows_kept:
            raise AssertionError(
                f"row accounting is off: {self.rows_kept:,} rows were kept but the Parquet files "
                f"hold {written:,} ({self.rows_by_month}); rows were lost or written twice")

    def to_dict(self) -> dict:
        return {
            "files_read": [Path(source).name for source in self.sources],
            "files_skipped": [dict(skipped) for skipped in self.files_skipped],
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_quarantined": self.rows_quarantined,
            "quarantined_by_reason": dict(self.reasons),
            "duplicates_removed": self.duplicates_removed,
            "rows_written": dict(sorted(self.rows_by_month.items())),
            "time_window": list(self.window),
            "messages": list(self.messages),
            "out_dir": str(self.out_dir) if self.out_dir is not None else None,
            "quarantine_path": (str(self.quarantine_path) if self.quarantine_path is not None
                                else None),
            "seconds": round(self.seconds, 3),
        }

    def summary(self) -> str:
        lines = [super().summary()]
        if self.files_skipped:
            folder = Path(self.sources[0]).parent if self.sources else ""
            lines.append(f"  files skipped in {folder} ({len(self.files_skipped)}):")
            lines += [f"    {s['file']}: {s['reason']}" for s in self.files_skipped]
        lines.append(f"  rows written to {self.out_dir}:" if self.rows_by_month
                     else f"  rows written to {self.out_dir}: none")
        lines += [f"    {m}: {n:,}" for m, n in sorted(self.rows_by_month.items())]
        lines += [f"  quarantine: {self.quarantine_path}", f"  took {self.seconds:.1f} s"]
        return "\n".join(lines)


class NothingConverted(ValidationError):
    """convert_rees46 kept no row: every file was empty, header only or wholly quarantined.
    ``report`` is the finished ConversionReport; the quarantine file has been written."""

    def __init__(self, message: str, report: ConversionReport) -> None:
        super().__init__(message)
        self.report = report


QUARANTINE_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("line", pa.int64()), ("reason", pa.string())]
    + [(name, pa.string()) for name in (*COLUMNS, "extra_fields")])


def _month_order(path: Path) -> tuple:
    """Kaggle names its files 2019-Oct.csv ... 2020-Feb.csv (or .csv.zip, .CSV, ...): read them
    in calendar order, then any others by name."""
    try:
        return (0, pd.to_datetime(path.name.split(".")[0], format="%Y-%b"), path.name)
    except ValueError:
        return (1, pd.Timestamp(0), path.name)


_FORMS_TEXT = "*.csv, *.csv.gz, *.csv.zip or *.csv.bz2 (any case; each may be encrypted, *.enc)"


def _scan_rees46(source: str | os.PathLike | None) -> tuple[list[Path], list[dict]]:
    """(the files to read, in calendar order; {"file": name, "reason"} for every other entry
    of the folder)."""
    source = Path(source) if source is not None else config.data_dir("raw") / "rees46"
    if source.is_file():
        if csv_form(source) is None:
            raise ValidationError(f"{source}: the name does not end like a REES46 CSV "
                                  f"({_FORMS_TEXT}); rename it if it is one.")
        return [source], []
    files, skipped = [], []
    for entry in sorted(source.iterdir()) if source.is_dir() else []:
        plain = entry.with_name(entry.name.removesuffix(crypto.ENCRYPTED_SUFFIX))
        if not entry.is_file():
            skipped.append({"file": entry.name, "reason": "not a file (subfolders are not read)"})
        elif csv_form(entry) is None:
            skipped.append({"file": entry.name, "reason": f"not named {_FORMS_TEXT}"})
        elif plain != entry and plain.is_file():  # the same month twice: the plain file wins
            skipped.append({"file": entry.name, "reason": f"encrypted copy of {plain.name}, which "
                            "is read instead"})
        else:
            files.append(entry)
    if not files:
        others = f" (it holds only {', '.join(s['file'] for s in skipped)})"
        raise FileNotFoundError(
            f"no REES46 CSV files ({_FORMS_TEXT}) in {source}{others if skipped else ''}. "
            f"Download the monthly files (2019-Oct.csv ... 2020-Feb.csv) from the "
            f"{_REES46_KAGGLE} and put them in {config.data_dir('raw') / 'rees46'}, or pass "
            "their folder.")
    return sorted(files, key=_month_order), skipped


def rees46_files(source: str | os.PathLike | None = None) -> list[Path]:
    """The REES46 CSVs in a folder (default data/raw/rees46/; files named *.csv, *.csv.gz,
    *.csv.zip or *.csv.bz2 in any case, each plain or encrypted as <name>.enc) in calendar order,
    or the one file ``source``. convert_rees46 names the other entries of the folder in a
    warning and its report."""
    return _scan_rees46(source)[0]


def _write_by_month(batch: pa.RecordBatch, folder: Path, writers: dict) -> None:
    months = batch.column("event_time").view(pa.int64()).to_numpy().astype("datetime64[s]")
    months = months.astype("datetime64[M]")
    found = np.unique(months)
    for month in found:
        part = batch if len(found) == 1 else batch.filter(pa.array(months == month))
        name = str(month)
        if name not in writers:
            (folder / f"month={name}").mkdir(parents=True)
            writers[name] = pq.ParquetWriter(
                folder / f"month={name}" / "part-0000.parquet", SCHEMA,
                # Dictionary pages only where they pay off, min/max statistics only where
                # filters use them: this halves the write time.
                use_dictionary=["event_type", "category_code", "brand"],
                write_statistics=["event_time", "event_type", "product_id", "user_id"])
        writers[name].write_batch(part)


def _rows_written(folder: Path) -> dict[str, int]:
    """Rows per month as the Parquet footers say: what a reader of the output will get."""
    counts: dict[str, int] = {}
    for path in folder.glob("month=*/*.parquet"):
        month = path.parent.name.removeprefix("month=")
        counts[month] = counts.get(month, 0) + pq.read_metadata(path).num_rows
    return dict(sorted(counts.items()))


def _read_ahead(items: Iterator) -> Iterator:
    """Yield from ``items`` while a second thread already computes the next one. Arrow's CSV
    parser and compute kernels release the GIL, so reading and checking block i+1 runs on the
    second core while block i is deduplicated and written."""
    done = object()
    with ThreadPoolExecutor(1) as pool:
        ahead = pool.submit(next, items, done)
        while (item := ahead.result()) is not done:
            ahead = pool.submit(next, items, done)
            yield item


def convert_rees46(
    source: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    chunksize: int = DEFAULT_BLOCK_SIZE // 128,
    quarantine_path: str | os.PathLike | None = None,
    window: tuple | None = None,
) -> ConversionReport:
    """Convert REES46 CSVs to typed Parquet, partitioned by month, validating every row.

    ``source``: a folder of monthly CSVs (default data/raw/rees46/) or one file. Files named
    *.csv, *.csv.gz, *.csv.zip (one CSV inside) or *.csv.bz2, in any case, are read, and their
    encrypted forms (<name>.enc, utils.core.crypto) unless the plain file is there too; other
    entries of the folder are named in a warning and in ``report.files_skipped``.
    ``out_dir`` (default data/raw/rees46_events/: it holds the shop's raw ids, so it stays with
    the raw data) gets month=YYYY-MM/part-0000.parquet; rejected rows go to
    ``quarantine_path`` (default <out_dir>_quarantine.parquet, next to it).
    ``chunksize`` is the approximate number of rows per block (the CSV is streamed in blocks of
    about chunksize * 128 bytes, at least 1 KiB). Event times must lie in ``window`` = (start,
    end), default utils.data.validate.time_window(); others are quarantined.

    Every header is checked before anything is written; the output replaces an earlier one only
    when the whole conversion has succeeded and the Parquet files hold exactly the rows kept.
    Raises NothingConverted (a ValidationError, with the report as ``.report``) when no row
    could be kept; the quarantine is written then, and an earlier output is left as it was.
    """
    started = time.perf_counter()
    files, skipped = _scan_rees46(source)
    out_dir = Path(out_dir) if out_dir is not None else config.data_dir("raw") / "rees46_events"
    if quarantine_path is None:
        quarantine_path = out_dir.with_name(out_dir.name + "_quarantine.parquet")
    quarantine_path = Path(quarantine_path)
    if quarantine_path.resolve().is_relative_to(out_dir.resolve()):
        raise ValueError(f"quarantine_path {quarantine_path} lies inside out_dir {out_dir}, which "
                         "each conversion replaces as a whole; put it beside out_dir (the default "
                         f"is {out_dir.with_name(out_dir.name + '_quarantine.parquet')}).")
    window = resolve_window(window)
    report = ConversionReport(sources=[str(f) for f in files], out_dir=out_dir,
                              quarantine_path=quarantine_path, files_skipped=skipped,
                              window=tuple(str(t) for t in window))
    if skipped:
        note = (f"{files[0].parent}: not read, as not REES46 CSV files: "
                + "; ".join(f"{s['file']} ({s['reason']})" for s in skipped))
        warnings.warn(note, stacklevel=2)
        report.messages.append(note)
    contents = {f: check_header(f) for f in files}  # a wrong header fails before any output
    for f, status in contents.items():
        if status != HAS_ROWS:
            report.messages.append(f"{f}: {NOTHING_TO_READ[status]}; nothing to read")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    quarantine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    writers: dict[str, pq.ParquetWriter] = {}
    dedup = Deduplicator()
    block_size = max(chunksize * 128, 1 << 10)
    rows_in = dict.fromkeys(files, 0)  # data lines per file, for NothingConverted's message
    try:
        # the quarantine file replaces an earlier one once the events are in place
        with atomic_path(quarantine_path) as tmp_quarantine:
            with pq.ParquetWriter(tmp_quarantine, QUARANTINE_SCHEMA) as quarantine_writer:
                blocks = ((f, batch, quarantine, row_hashes(batch)) for f in files
                          for batch, quarantine in read_events_csv(f, block_size, window))
                for f, batch, quarantine, hashes in _read_ahead(blocks):
                    keep = dedup.first_seen(batch, hashes)
                    kept = int(keep.sum())
                    rows_in[f] += batch.num_rows + len(quarantine)
                    report.rows_read += batch.num_rows
                    report.rows_kept += kept
                    report.duplicates_removed += batch.num_rows - kept
                    if kept:
                        clean = (batch if kept == batch.num_rows
                                 else batch.filter(pa.array(keep)))
                        _write_by_month(clean, tmp_dir / "events", writers)
                    if len(quarantine):
                        report.add_quarantine(quarantine["reason"])
                        quarantine_writer.write_table(pa.Table.from_pandas(
                            quarantine, schema=QUARANTINE_SCHEMA, preserve_index=False))
            for writer in writers.values():
                writer.close()
            report.rows_by_month = _rows_written(tmp_dir / "events")
            report.check()  # raises if the Parquet files do not hold exactly the rows kept
            if report.rows_kept:
                replace_dir(tmp_dir / "events", out_dir)
    finally:
        for writer in writers.values():
            writer.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    if not report.rows_kept:
        per_file = [f"  {f}: " + (contents[f] if contents[f] != HAS_ROWS else
                                  f"all {rows_in[f]:,} rows quarantined (see {quarantine_path})")
                    for f in files]
        raise NothingConverted(
            f"no row could be kept from {len(files)} file(s), so nothing was converted and "
            f"{out_dir} was left as it was:\n" + "\n".join(per_file) + "\nFix the files (the "
            "quarantine gives each rejected line and its reason) or pass others, and run again.",
            report)
    return report


def converted_parts(out_dir: str | os.PathLike | None = None) -> list[Path]:
    """The Parquet parts of a conversion (default data/raw/rees46_events/), month by month, each
    plain or encrypted in place (part-0000.parquet.enc); raises FileNotFoundError if none."""
    out_dir = Path(out_dir) if out_dir is not None else config.data_dir("raw") / "rees46_events"
    names = {p.with_name(p.name.removesuffix(crypto.ENCRYPTED_SUFFIX))
             for p in out_dir.glob("month=*/part-*.parquet*")}
    files = sorted(crypto.plain_or_encrypted(p) for p in names if p.suffix == ".parquet")
    if not files:
        raise FileNotFoundError(
            f"{out_dir} holds no converted events (month=YYYY-MM/part-*.parquet). Run "
            "utils.data.rees46.convert_rees46() first; it reads the Kaggle CSVs from "
            f"{config.data_dir('raw') / 'rees46'}.")
    return files


def load_rees46_events(
    out_dir: str | os.PathLike | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """Read converted REES46 events (all months, default data/raw/rees46_events/) back as a
    typed DataFrame, with the raw ids."""
    files = converted_parts(out_dir)
    unknown = sorted(set(columns or []) - set(COLUMNS))
    if unknown:
        raise KeyError(f"unknown column(s) {unknown}; the events have {', '.join(COLUMNS)}")
    if any(crypto.is_encrypted(f) for f in files):  # each part decrypted into memory, then read
        parts = [pq.read_table(crypto.for_reading(f), columns=columns, schema=SCHEMA) for f in files]
        return pa.concat_tables(parts).to_pandas()
    dataset = pads.dataset([str(f) for f in files], format="parquet", schema=SCHEMA)
    return dataset.to_table(columns=columns).to_pandas()


# ---------------------------------------------------------------------------------------------
# Benchmark: python -m utils.data.rees46 --benchmark-rees46 [--rows N]

_MONTHS = ("2019-10", "2019-11", "2019-12", "2020-01", "2020-02")
_BAD_LINES = (  # one of each kind of damage, written into every generated file
    b"2019-12-01 00:00:00 UTC,view,5712790\n",
    b"2019-12-01 00:00:00 UTC,click,1,2,,,1.0,3,s\n",
    b"2019-12-01 00:00:00 UTC,view,1,2,,,-1.0,3,s\n",
    b"yesterday,view,1,2,,,1.0,3,s\n",
)


def _fake_events(rng: np.random.Generator, n: int, start: int, stop: int) -> pa.Table:
    """n events in REES46 CSV form with times sorted in [start, stop) (seconds since 1970)."""
    sessions = pa.array([str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(max(n // 8, 1))])
    brands = pa.array(["runail", "irisk", "masura", "grattol", "f.o.x", "cnd", None, None, None])
    codes = pa.array([None] * 8 + ["appliances.environment.vacuum", "stationery.cartrige"])
    times = pa.array(np.sort(rng.integers(start, stop, n)), pa.timestamp("s"))
    return pa.table({
        "event_time": pc.binary_join_element_wise(times.cast(pa.string()), " UTC", ""),
        "event_type": pa.array(EVENT_TYPES).take(
            rng.choice(4, n, p=[0.5, 0.28, 0.17, 0.05])),
        "product_id": rng.integers(3_000, 5_900_000, n),
        "category_id": rng.integers(1_487_580_005_000_000_000, 1_487_580_013_000_000_000, n),
        "category_code": codes.take(rng.integers(0, len(codes), n)),
        "brand": brands.take(rng.integers(0, len(brands), n)),
        "price": np.round(rng.lognormal(1.3, 1.0, n), 2),
        "user_id": rng.integers(10_000_000, 622_000_000, n),
        "user_session": sessions.take(rng.integers(0, len(sessions), n)),
    })


def write_fake_rees46(folder: Path, rows: int, seed: int = 0, chunk: int = 1_000_000) -> dict:
    """Write ``rows`` events as monthly REES46 CSVs in ``folder``, with ~1% exact duplicates
    (some across files) and a few damaged lines; returns what was written."""
    rng = np.random.default_rng(seed)
    options = pcsv.WriteOptions(include_header=False, quoting_style="none")
    written = {"rows": 0, "bad": 0, "files": []}
    carry = None  # the last rows of a file, repeated at the start of the next one
    for i, month in enumerate(_MONTHS):
        n_month = rows // len(_MONTHS) + (i < rows % len(_MONTHS))
        start = int(np.datetime64(month + "-01", "s").astype(np.int64))
        stop = int((np.datetime64(month, "M") + 1).astype("datetime64[s]").astype(np.int64))
        path = folder / f"{pd.Timestamp(month + '-01'):%Y-%b}.csv"
        with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink:
            sink.write((",".join(COLUMNS) + "\n").encode())
            done = 0
            if carry is not None and n_month >= len(carry):
                pcsv.write_csv(carry, sink, options)
                done += len(carry)
            while done < n_month:
                k = min(chunk, n_month - done)
                base = _fake_events(rng, max(k - k // 100, 1), start + (stop - start) * done //
                                    n_month, start + (stop - start) * (done + k) // n_month)
                repeat = np.sort(np.concatenate([np.arange(len(base)),
                                                 rng.integers(0, len(base), k - len(base))]))
                table = base.take(repeat)  # duplicates sit next to their original, as in REES46
                pcsv.write_csv(table, sink, options)
                done += k
                carry = table.slice(len(table) - min(100, len(table)))
            if n_month >= 1000:
                sink.write(b"".join(_BAD_LINES))
                written["bad"] += len(_BAD_LINES)
        written["rows"] += done + (len(_BAD_LINES) if n_month >= 1000 else 0)
        written["files"].append(str(path))
    return written


BENCH_TASKS = {  # what each side of the benchmark runs, by its name in benchmark_data.json
    "convert": "convert_rees46 (checks, quarantine, deduplication, Parquet by month)",
    "pandas_read_csv": "pandas.read_csv of each file, default options, all held in memory (no "
                       "checks, nothing written)",
    "pyarrow_read_csv": "pyarrow.csv.read_csv of each file, two threads, every column a string "
                        "(the parser convert_rees46 streams through, alone)",
}


def write_rees46_csv(events: pd.DataFrame, folder: str | os.PathLike, chunk: int = 1_000_000) -> list[Path]:
    """Write an event log (the simulator's, say) as monthly CSVs in REES46's exact format
    (2019-Oct.csv, ...; times as "2019-10-01 00:00:00 UTC"), so that it goes through the same
    conversion as the real files. Returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    options = pcsv.WriteOptions(include_header=False, quoting_style="none")
    times = events["event_time"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
    month = times.astype("datetime64[M]")
    written = []
    for name in np.unique(month):
        rows = np.flatnonzero(month == name)
        path = folder / f"{pd.Timestamp(name):%Y-%b}.csv"
        with atomic_path(path) as tmp, pa.OSFile(str(tmp), "wb") as sink:
            sink.write((",".join(COLUMNS) + "\n").encode())
            for start in range(0, len(rows), chunk):
                part = events.iloc[rows[start:start + chunk]]
                stamp = pa.array(times[rows[start:start + chunk]], pa.timestamp("s"))
                table = pa.table({
                    "event_time": pc.strftime(stamp, format="%Y-%m-%d %H:%M:%S UTC"),
                    **{c: pa.array(part[c].astype("string") if c in ("event_type", "category_code",
                                                                      "brand", "user_session")
                                   else part[c]) for c in COLUMNS[1:]}})
                pcsv.write_csv(table, sink, options)
        written.append(path)
    return written


def _bench_child(task: str, folder: str) -> None:
    """Run one side of the benchmark and print JSON (own process, so peak RSS is its own)."""
    import resource

    started = time.perf_counter()
    files = rees46_files(Path(folder) / "csv")
    if task == "convert":
        report = convert_rees46(Path(folder) / "csv", Path(folder) / "parquet")
        rows, extra = report.rows_read, {"report": str(report)}
    elif task == "pandas_read_csv":  # all files in memory, as a notebook would hold them
        frames = [pd.read_csv(f) for f in files]
        rows, extra = sum(len(frame) for frame in frames), {}
    else:
        options = pcsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string()))
        parse = pcsv.ParseOptions(quote_char=False, invalid_row_handler=lambda row: "skip")
        rows = sum(pcsv.read_csv(f, parse_options=parse, convert_options=options).num_rows
                   for f in files)
        extra = {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started,
                      "peak_mib": peak, **extra}))


def benchmark_rees46(rows: int, out: str | os.PathLike | None = None) -> dict:
    """Time convert_rees46 against pandas.read_csv (and Arrow's parser alone) on ``rows``
    generated events, each in its own process, one after the other; print the figures and write
    them to ``out`` (default reports/metrics/benchmark_data.json). Returns what was written."""
    out = Path(out) if out is not None else config.reports_dir("metrics") / "benchmark_data.json"
    folder = Path(tempfile.mkdtemp(prefix="rees46-bench-"))
    result = {"command": f"python -m utils.data.rees46 --benchmark-rees46 --rows {rows}",
              "load_average_1min_before": round(os.getloadavg()[0], 2),
              "cpus": os.cpu_count(), "tasks": BENCH_TASKS}
    try:
        (folder / "csv").mkdir()
        started = time.perf_counter()
        written = write_fake_rees46(folder / "csv", rows)
        size = sum(Path(f).stat().st_size for f in written["files"]) / 2**20
        print(f"generated {written['rows']:,} rows ({written['bad']} damaged lines) in "
              f"{len(written['files'])} files, {size:,.0f} MiB, in "
              f"{time.perf_counter() - started:.1f} s")
        result.update(rows=written["rows"], csv_mib=round(size, 1))
        for task in BENCH_TASKS:
            done = subprocess.run(
                [sys.executable, "-m", "utils.data.rees46", "--bench-child", task, str(folder)],
                capture_output=True, text=True, cwd=config.PROJECT_ROOT)
            if done.returncode:
                raise RuntimeError(f"the {task} run failed:\n{done.stderr}")
            timed = json.loads(done.stdout.strip().splitlines()[-1])
            if "report" in timed:
                print(timed["report"])
            print(f"{task:>17}: {timed['rows']:>12,} rows  {timed['seconds']:7.1f} s  "
                  f"{timed['rows'] / timed['seconds']:>11,.0f} rows/s  peak RSS "
                  f"{timed['peak_mib']:,.0f} MiB")
            result[f"{task}_s"] = round(timed["seconds"], 2)  # convert_s, pandas_read_csv_s, ...
            result[f"{task}_rows"] = timed["rows"]
            result[f"{task.split('_')[0]}_peak_mib"] = round(timed["peak_mib"], 1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result["convert_faster_than_pandas"] = result["convert_s"] <= result["pandas_read_csv_s"]
    result["convert_memory_share_of_pandas"] = round(
        result["convert_peak_mib"] / result["pandas_peak_mib"], 3)
    print(f"convert_rees46 takes {result['convert_s'] / result['pandas_read_csv_s']:.2f} times the "
          f"time of pandas.read_csv, at {result['convert_memory_share_of_pandas']:.0%} of its "
          f"peak memory; Arrow's parser alone takes "
          f"{result['pyarrow_read_csv_s'] / result['pandas_read_csv_s']:.2f} times pandas' time")
    write_json_atomic(out, result)
    print(f"wrote {out}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m utils.data.rees46", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark-rees46", action="store_true",
                        help="time convert_rees46 against pandas.read_csv on generated data")
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows to generate")
    parser.add_argument("--out", help="JSON file for the figures (default "
                        "reports/metrics/benchmark_data.json)")
    parser.add_argument("--bench-child", nargs=2, metavar=("TASK", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bench_child:
        _bench_child(*args.bench_child)
    elif args.benchmark_rees46:
        benchmark_rees46(args.rows, args.out)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
