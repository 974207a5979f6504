"""Real public datasets: a checksummed download cache, typed loaders, and the REES46 conversion.

- ``fetch(name)`` returns a verified local copy of a file listed in ``REGISTRY`` (see
  ../shared/data/SOURCES.md): from the cache data/external/, else from a mirror (the ``mirror=``
  argument or $BEAUTY_DATA_MIRROR: a folder or an http(s) URL), else from the public URL.
- ``load_amazon_beauty``, ``load_sephora_products``, ``load_amazon_reviews`` read those files
  into typed DataFrames and say which file and line is wrong when one is malformed.
- ``convert_rees46`` turns the monthly Kaggle REES46 CSVs into Parquet partitioned by month,
  validating every row (``utils.validate``) and dropping exact duplicates;
  ``load_rees46_events`` reads the result back.

``python -m utils.datasets --benchmark-rees46 --rows 20000000`` times the conversion on a
generated CSV of that size against a plain ``pandas.read_csv``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from utils import config
from utils.validate import (
    COLUMNS,
    DEFAULT_BLOCK_SIZE,
    SCHEMA,
    Deduplicator,
    ValidationReport,
    check_header,
    read_events_csv,
)

MIRROR_ENV = "BEAUTY_DATA_MIRROR"
TIMEOUT_S = 30

_S3REC = ("https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/"
          "2a81540ae18615d88ef88227b0c066e5b74781e5/data/")
_UCSD = "amazon_v2/categoryFilesSmall/All_Beauty_5.json.gz"
_SEPHORA_KAGGLE = ("Kaggle dataset nadyinky/sephora-products-and-skincare-reviews "
                   "(https://www.kaggle.com/datasets/nadyinky/sephora-products-and-skincare-reviews)")
_REES46_KAGGLE = ("Kaggle dataset mkechinov/ecommerce-events-history-in-cosmetics-shop "
                  "(https://www.kaggle.com/datasets/mkechinov/ecommerce-events-history-in-cosmetics-shop)")


class DownloadError(RuntimeError):
    """A file could not be obtained (dead host, missing file, no anonymous URL)."""


class ChecksumError(DownloadError):
    """A downloaded or copied file does not have the expected SHA-256."""


@dataclass(frozen=True)
class Source:
    relpath: str  # under data/external/ and under a mirror
    sha256: str
    urls: tuple[str, ...] = ()  # public URLs, tried in order
    origin: str = ""  # where to get it by hand when there is no anonymous URL


REGISTRY: dict[str, Source] = {
    "amazon_beauty": Source(
        "amazon_beauty/Beauty.txt",
        "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
        (_S3REC + "Beauty.txt",)),
    "amazon_beauty_attributes": Source(
        "amazon_beauty/Beauty_item2attributes.json",
        "129e40f67486f6877eff0f5318cfa8530ee8ac23d8b0d1de04e1bb7a2ba0b2d4",
        (_S3REC + "Beauty_item2attributes.json",)),
    "amazon_all_beauty": Source(
        "amazon_all_beauty/All_Beauty_5.json.gz",
        "8e49737fefaec9290187c69bf92889452df8be0ab5e36c9476520d6639683279",
        ("https://datarepo.eng.ucsd.edu/mcauley_group/data/" + _UCSD,
         "https://jmcauley.ucsd.edu/data/" + _UCSD)),
    "sephora_products": Source(
        "sephora/product_info.csv",
        "d5ddb391be522e7bfcecbba93dd61129217c1381bf14a7580c0f6097ac8da063",
        origin=_SEPHORA_KAGGLE + ", file product_info.csv"),
    "sephora_reviews_100": Source(
        "sephora/luxury_reviews_100.csv",
        "fecbf29c3c5f3883fd09d28e4bbb5f0efe1cf206ed2085934a5ae10bfc3f11fe",
        origin="the project's shared copy (100 reviews picked from the " + _SEPHORA_KAGGLE + ")"),
    "rees46_sample": Source(
        "rees46_cosmetics/cosmeticsshop-sample.csv",
        "79c764b26c0d7a46d64c6e9dbdbd78fe91970f73834d677e8f2464ef6752fcd6",
        origin="the first 101 lines (header + 100 events) of 2019-Dec.csv in the "
        + _REES46_KAGGLE),
}


# ---------------------------------------------------------------------------------------------
# Download cache


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _mirror_hint(mirror: str | None) -> str:
    if mirror:
        return (f"The mirror in use is {mirror!r} (from the mirror= argument or ${MIRROR_ENV}); "
                f"check it, pass another with mirror=..., or unset ${MIRROR_ENV} to use the "
                "public URL.")
    return (f"If the host is down or you are offline, pass mirror=<folder or http(s) URL> to "
            f"fetch(), or set the environment variable {MIRROR_ENV}, to a copy that holds the "
            "same relative paths (e.g. a shared folder with amazon_beauty/Beauty.txt).")


def _copy_verified(origin: str, target: Path, source: Source, mirror: str | None) -> None:
    """Copy ``origin`` (a URL or a local path) to ``target``, renaming it into place only if its
    SHA-256 matches; on any failure nothing is left in the cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                if "://" in origin:
                    src = urllib.request.urlopen(origin, timeout=TIMEOUT_S)
                else:
                    src = open(origin, "rb")
                with src:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as exc:
                raise DownloadError(f"could not download {origin}: HTTP {exc.code} {exc.reason}. "
                                    + _mirror_hint(mirror)) from exc
            except FileNotFoundError as exc:
                raise DownloadError(f"the mirror has no file {origin}. "
                                    + _mirror_hint(mirror)) from exc
            except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout, reset
                reason = getattr(exc, "reason", exc)
                raise DownloadError(f"could not download {origin}: {reason}. "
                                    + _mirror_hint(mirror)) from exc
        actual = digest.hexdigest()
        if actual != source.sha256:
            raise ChecksumError(
                f"checksum mismatch for {source.relpath} from {origin}: expected SHA-256 "
                f"{source.sha256}, got {actual}. The file there is corrupted or another version; "
                "nothing was cached. " + _mirror_hint(mirror))
        os.replace(tmp, target)  # atomic: a reader never sees a half-written file
    finally:
        Path(tmp).unlink(missing_ok=True)


def fetch(name: str, mirror: str | os.PathLike | None = None) -> Path:
    """Return the path of a verified local copy of dataset file ``name`` (a REGISTRY key).

    Order: the cache data/external/<relpath> if its checksum is right; else the mirror
    (``mirror`` or $BEAUTY_DATA_MIRROR: a folder or an http(s) URL holding <relpath>); else the
    public URL(s). Raises DownloadError / ChecksumError with what to do.
    """
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(REGISTRY)}")
    source = REGISTRY[name]
    target = config.data_dir("external") / source.relpath
    cached_note = ""
    if target.is_file():
        actual = sha256_of(target)
        if actual == source.sha256:
            return target
        cached_note = (f" (A file is already at {target}, but its SHA-256 is {actual}, not "
                       f"{source.sha256}: another version or a damaged copy.)")
    mirror = os.fspath(mirror) if mirror is not None else os.environ.get(MIRROR_ENV) or None
    if mirror:
        sep = "/" if "://" in mirror else os.sep
        _copy_verified(mirror.rstrip("/\\") + sep + source.relpath.replace("/", sep), target,
                       source, mirror)
        return target
    if not source.urls:
        raise DownloadError(
            f"{source.relpath} has no anonymous download URL: get it from {source.origin} "
            f"(Kaggle needs a free account) and put it at {target}, or point mirror= / "
            f"${MIRROR_ENV} at a folder holding {source.relpath}.{cached_note}")
    errors = []
    for url in source.urls:
        try:
            _copy_verified(url, target, source, None)
            return target
        except DownloadError as exc:
            errors.append(str(exc))
    raise DownloadError("\n".join(errors) + cached_note)


def _path_or_fetch(path: str | os.PathLike | None, name: str) -> Path:
    path = fetch(name) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass the path of a {name} file, or "
                                "None to use the verified public copy.")
    return path


# ---------------------------------------------------------------------------------------------
# Loaders


@dataclass
class SequenceData:
    """Item sequences, one per user, in time order (long format), plus item attributes."""

    interactions: pd.DataFrame  # user_id, item_id, position (0-based within the user)
    item_attributes: dict[int, list[int]] = field(default_factory=dict)

    @property
    def n_users(self) -> int:
        return int(self.interactions["user_id"].nunique())

    @property
    def n_items(self) -> int:
        return int(self.interactions["item_id"].nunique())

    def sequences(self) -> dict[int, list[int]]:
        """{user_id: [item_id, ...]} in time order."""
        grouped = self.interactions.groupby("user_id", sort=False)["item_id"]
        return {int(user): items.tolist() for user, items in grouped}


def load_amazon_beauty(
    path: str | os.PathLike | None = None, attributes_path: str | os.PathLike | None = None
) -> SequenceData:
    """Read Beauty.txt (S3-Rec format: ``user_id item_id item_id ...`` per line) or any file of
    that format. With ``path=None`` the verified public copy and its item attributes are used;
    with a path, attributes only if ``attributes_path`` is given."""
    if path is None:
        attributes_path = attributes_path or fetch("amazon_beauty_attributes")
    path = _path_or_fetch(path, "amazon_beauty")
    users, lengths, items, first_line = [], [], [], {}
    with open(path, encoding="utf-8", errors="strict") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue  # blank lines (e.g. at the end) carry nothing
            bad = next((x for x in fields if not (x.isascii() and x.isdigit() and len(x) < 19)),
                       None)
            if bad is not None or len(fields) < 2:
                what = f"{bad!r} is not a non-negative integer id" if bad else "no item ids"
                raise ValueError(
                    f"{path}, line {number}: {what}; expected 'user_id item_id item_id ...' "
                    "(whitespace-separated integer ids, one user per line). Fix the line or "
                    "pass a file in this format.")
            user = int(fields[0])
            if user in first_line:
                raise ValueError(f"{path}, line {number}: user {user} already has line "
                                 f"{first_line[user]}; expected one line per user.")
            first_line[user] = number
            users.append(user)
            lengths.append(len(fields) - 1)
            items.extend(fields[1:])
    lengths = np.asarray(lengths, dtype=np.int64)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    interactions = pd.DataFrame({
        "user_id": np.repeat(np.asarray(users, dtype=np.int64), lengths),
        "item_id": np.asarray(items, dtype=np.int64),
        "position": (np.arange(lengths.sum()) - starts).astype(np.int32),
    })
    attributes = _load_attributes(Path(attributes_path)) if attributes_path else {}
    return SequenceData(interactions, attributes)


def _load_attributes(path: Path) -> dict[int, list[int]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg}); expected "
                         '{"item_id": [attribute_id, ...], ...}.') from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object item_id -> [attribute ids].")
    try:
        return {int(item): [int(a) for a in attrs] for item, attrs in raw.items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: every key must be an item id and every value a list of "
                         f"integer attribute ids ({exc}).") from exc


SEPHORA_DTYPES = {
    "product_id": "str", "product_name": "str", "brand_id": "int64", "brand_name": "str",
    "loves_count": "int64", "rating": "float64", "reviews": "Int64", "size": "str",
    "variation_type": "str", "variation_value": "str", "variation_desc": "str",
    "ingredients": "str", "price_usd": "float64", "value_price_usd": "float64",
    "sale_price_usd": "float64", "limited_edition": "bool", "new": "bool", "online_only": "bool",
    "out_of_stock": "bool", "sephora_exclusive": "bool", "highlights": "str",
    "primary_category": "category", "secondary_category": "category",
    "tertiary_category": "category", "child_count": "int64", "child_max_price": "float64",
    "child_min_price": "float64",
}
_SEPHORA_REQUIRED = ("product_id", "product_name", "brand_id", "brand_name", "price_usd",
                     "primary_category")


def load_sephora_products(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The Sephora product catalogue (product_info.csv) with proper dtypes."""
    path = _path_or_fetch(path, "sephora_products")
    raw = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
    missing = [c for c in SEPHORA_DTYPES if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected the Kaggle "
                         f"product_info.csv columns {list(SEPHORA_DTYPES)}.")
    out = {}
    for name, dtype in SEPHORA_DTYPES.items():
        col = raw[name]
        wrong = col.isna() & (name in _SEPHORA_REQUIRED or dtype in ("int64", "bool"))
        if dtype not in ("str", "category"):
            numbers = pd.to_numeric(col, errors="coerce")
            wrong |= col.notna() & numbers.isna()
            if dtype == "bool":
                wrong |= numbers.notna() & ~numbers.isin([0, 1])
            elif dtype in ("int64", "Int64"):
                wrong |= numbers.notna() & (numbers % 1 != 0)
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            raise ValueError(
                f"{path}, data row {row + 1} (product {raw['product_id'].iloc[row]!r}): column "
                f"{name} is {col.iloc[row]!r}; expected {dtype}"
                f"{' (may not be empty)' if col.isna().iloc[row] else ''}. "
                "Fix the value or use the original Kaggle file.")
        out[name] = col.astype(dtype) if dtype in ("str", "category") else numbers.astype(dtype)
    return pd.DataFrame(out)


_REVIEW_REQUIRED = ("overall", "asin", "reviewerID", "unixReviewTime")


def load_amazon_reviews(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Amazon 2018 review data (JSON lines, gzipped or not), e.g. All_Beauty_5.json.gz.

    Columns: reviewerID, asin (str), overall (float64), summary, reviewText (str, may be
    missing), verified (boolean), review_time (datetime64[s, UTC] from unixReviewTime).
    """
    import gzip

    path = _path_or_fetch(path, "amazon_all_beauty")
    opener = gzip.open if path.suffix == ".gz" else open
    records = []
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                review = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc.msg}); expected "
                                 "one review object per line.") from exc
            missing = [k for k in _REVIEW_REQUIRED
                       if not isinstance(review, dict) or k not in review]
            if missing:
                raise ValueError(f"{path}, line {number}: missing {missing}; each review needs "
                                 f"{', '.join(_REVIEW_REQUIRED)}.")
            if not isinstance(review["overall"], (int, float)) or \
                    not isinstance(review["unixReviewTime"], int):
                raise ValueError(f"{path}, line {number}: overall and unixReviewTime must be "
                                 f"numbers, got {review['overall']!r} and "
                                 f"{review['unixReviewTime']!r}.")
            records.append((review["reviewerID"], review["asin"], review["overall"],
                            review.get("summary"), review.get("reviewText"),
                            review.get("verified"), review["unixReviewTime"]))
    frame = pd.DataFrame(records, columns=["reviewerID", "asin", "overall", "summary",
                                           "reviewText", "verified", "unixReviewTime"])
    frame = frame.astype({"reviewerID": "str", "asin": "str", "overall": "float64",
                          "summary": "str", "reviewText": "str", "verified": "boolean"})
    frame["review_time"] = pd.to_datetime(frame.pop("unixReviewTime").astype("int64"), unit="s",
                                          utc=True).astype("datetime64[s, UTC]")
    return frame


# ---------------------------------------------------------------------------------------------
# REES46 events: CSV -> Parquet


@dataclass
class ConversionReport(ValidationReport):
    """What convert_rees46 did: the ValidationReport counts plus where the output went."""

    out_dir: Path | None = None
    quarantine_path: Path | None = None
    rows_by_month: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        months = ", ".join(f"{m}: {n:,}" for m, n in sorted(self.rows_by_month.items()))
        return (f"{super().summary()}\n  written to {self.out_dir} ({months or 'no rows'})\n"
                f"  quarantine: {self.quarantine_path}\n  took {self.seconds:.1f} s")


QUARANTINE_SCHEMA = pa.schema(
    [("source_file", pa.string()), ("line", pa.int64()), ("reason", pa.string())]
    + [(name, pa.string()) for name in (*COLUMNS, "extra_fields")])


def _month_order(path: Path) -> tuple:
    """Kaggle names its files 2019-Oct.csv ... 2020-Feb.csv: read them in calendar order."""
    try:
        return (0, pd.to_datetime(path.name.split(".")[0], format="%Y-%b"), path.name)
    except ValueError:
        return (1, pd.Timestamp(0), path.name)


def rees46_files(source: str | os.PathLike | None = None) -> list[Path]:
    """The REES46 CSVs in a folder (*.csv, *.csv.gz; default data/raw/rees46/) or one file."""
    source = Path(source) if source is not None else config.data_dir("raw") / "rees46"
    if source.is_file():
        return [source]
    files = sorted((p for p in source.glob("*") if p.name.endswith((".csv", ".csv.gz"))),
                   key=_month_order)
    if not files:
        raise FileNotFoundError(
            f"no REES46 CSV files (*.csv or *.csv.gz) in {source}. Download the monthly files "
            f"(2019-Oct.csv ... 2020-Feb.csv) from the {_REES46_KAGGLE} and put them in "
            f"{config.data_dir('raw') / 'rees46'}, or pass their folder.")
    return files


def _write_by_month(batch: pa.RecordBatch, folder: Path, writers: dict, counts: dict) -> None:
    months = batch.column("event_time").view(pa.int64()).to_numpy().astype("datetime64[s]")
    months = months.astype("datetime64[M]")
    for month in np.unique(months):
        one_month = months[0] == months[-1]
        part = batch if one_month else batch.filter(pa.array(months == month))
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
        counts[name] = counts.get(name, 0) + part.num_rows


def convert_rees46(
    source: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    chunksize: int = DEFAULT_BLOCK_SIZE // 128,
    quarantine_path: str | os.PathLike | None = None,
) -> ConversionReport:
    """Convert REES46 CSVs to typed Parquet, partitioned by month, validating every row.

    ``source``: a folder of monthly CSVs (plain or .gz; default data/raw/rees46/) or one file.
    ``out_dir`` (default data/interim/rees46_events/) gets month=YYYY-MM/part-0000.parquet;
    rejected rows go to ``quarantine_path`` (default <out_dir>_quarantine.parquet, next to it).
    ``chunksize`` is the approximate number of rows per block (the CSV is streamed in blocks of
    about chunksize * 128 bytes). Every header is checked before anything is written; the output
    replaces an earlier one only when the whole conversion has succeeded.
    """
    started = time.perf_counter()
    files = rees46_files(source)
    out_dir = Path(out_dir) if out_dir is not None else config.data_dir("interim") / "rees46_events"
    if quarantine_path is None:
        quarantine_path = out_dir.with_name(out_dir.name + "_quarantine.parquet")
    quarantine_path = Path(quarantine_path)
    report = ConversionReport(sources=[str(f) for f in files], out_dir=out_dir,
                              quarantine_path=quarantine_path)
    for f in files:  # a wrong header fails here, before any output exists
        if not check_header(f):
            report.messages.append(f"{f}: empty file (no header, no rows); nothing to read")

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    quarantine_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.tmp-"))
    tmp_quarantine = tmp_dir / "quarantine.parquet"
    writers: dict[str, pq.ParquetWriter] = {}
    dedup = Deduplicator()
    block_size = max(chunksize * 128, 1 << 16)
    try:
        with pq.ParquetWriter(tmp_quarantine, QUARANTINE_SCHEMA) as quarantine_writer:
            for f in files:
                for batch, quarantine in read_events_csv(f, block_size):
                    keep = dedup.first_seen(batch)
                    kept = int(keep.sum())
                    report.rows_read += batch.num_rows
                    report.rows_kept += kept
                    report.duplicates_removed += batch.num_rows - kept
                    if kept:
                        clean = batch if kept == batch.num_rows else batch.filter(pa.array(keep))
                        _write_by_month(clean, tmp_dir / "events", writers, report.rows_by_month)
                    if len(quarantine):
                        report.add_quarantine(quarantine["reason"])
                        quarantine_writer.write_table(pa.Table.from_pandas(
                            quarantine, schema=QUARANTINE_SCHEMA, preserve_index=False))
        for writer in writers.values():
            writer.close()
        report.check()
        (tmp_dir / "events").mkdir(exist_ok=True)
        _replace_dir(tmp_dir / "events", out_dir)
        os.replace(tmp_quarantine, quarantine_path)
    finally:
        for writer in writers.values():
            writer.close()
        shutil.rmtree(tmp_dir, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _replace_dir(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``, removing an earlier ``target`` only after the swap."""
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def load_rees46_events(
    out_dir: str | os.PathLike | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """Read converted REES46 events (all months) back as a typed DataFrame."""
    out_dir = Path(out_dir) if out_dir is not None else config.data_dir("interim") / "rees46_events"
    files = sorted(out_dir.glob("month=*/part-*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"{out_dir} holds no converted events (month=YYYY-MM/part-*.parquet). Run "
            "utils.datasets.convert_rees46() first; it reads the Kaggle CSVs from "
            f"{config.data_dir('raw') / 'rees46'}.")
    unknown = sorted(set(columns or []) - set(COLUMNS))
    if unknown:
        raise KeyError(f"unknown column(s) {unknown}; the events have {', '.join(COLUMNS)}")
    dataset = pads.dataset([str(f) for f in files], format="parquet", schema=SCHEMA)
    return dataset.to_table(columns=columns).to_pandas()


# ---------------------------------------------------------------------------------------------
# Benchmark: python -m utils.datasets --benchmark-rees46 [--rows N]

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
        "event_type": pa.array(["view", "cart", "remove_from_cart", "purchase"]).take(
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
        with pa.OSFile(str(path), "wb") as sink:
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


def _bench_child(task: str, folder: str) -> None:
    """Run one side of the benchmark and print JSON (own process, so peak RSS is its own)."""
    import resource

    started = time.perf_counter()
    if task == "convert":
        report = convert_rees46(Path(folder) / "csv", Path(folder) / "parquet")
        rows, extra = report.rows_read, {"report": str(report)}
    else:
        frames = [pd.read_csv(f) for f in rees46_files(Path(folder) / "csv")]
        rows, extra = sum(len(f) for f in frames), {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"rows": rows, "seconds": time.perf_counter() - started,
                      "peak_rss_mb": peak, **extra}))


def benchmark_rees46(rows: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="rees46-bench-"))
    try:
        (folder / "csv").mkdir()
        started = time.perf_counter()
        written = write_fake_rees46(folder / "csv", rows)
        size = sum(Path(f).stat().st_size for f in written["files"]) / 2**20
        print(f"generated {written['rows']:,} rows ({written['bad']} damaged lines) in "
              f"{len(written['files'])} files, {size:,.0f} MiB, in "
              f"{time.perf_counter() - started:.1f} s")
        for task, label in (("convert", "convert_rees46"), ("read_csv", "pandas.read_csv")):
            result = subprocess.run(
                [sys.executable, "-m", "utils.datasets", "--bench-child", task, str(folder)],
                capture_output=True, text=True, cwd=config.PROJECT_ROOT)
            if result.returncode:
                raise RuntimeError(f"the {label} run failed:\n{result.stderr}")
            out = json.loads(result.stdout.strip().splitlines()[-1])
            if "report" in out:
                print(out["report"])
            print(f"{label:>16}: {out['rows']:>12,} rows  {out['seconds']:7.1f} s  "
                  f"{out['rows'] / out['seconds']:>11,.0f} rows/s  peak RSS "
                  f"{out['peak_rss_mb']:,.0f} MiB")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m utils.datasets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark-rees46", action="store_true",
                        help="time convert_rees46 against pandas.read_csv on generated data")
    parser.add_argument("--rows", type=int, default=20_000_000, help="rows to generate")
    parser.add_argument("--bench-child", nargs=2, metavar=("TASK", "FOLDER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.bench_child:
        _bench_child(*args.bench_child)
    elif args.benchmark_rees46:
        benchmark_rees46(args.rows)
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
