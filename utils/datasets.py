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
import csv
import gzip
import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import warnings
import zlib
from collections.abc import Iterator
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
    HAS_ROWS,
    NOTHING_TO_READ,
    SCHEMA,
    Deduplicator,
    ValidationError,
    ValidationReport,
    check_header,
    csv_form,
    read_events_csv,
    resolve_window,
    time_window,
)

MIRROR_ENV = "BEAUTY_DATA_MIRROR"
SHIPPED_DIR = config.PROJECT_ROOT / "data" / "shipped"
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
    relpath: str  # under data/external/ and under a mirror (under data/shipped/ when shipped)
    sha256: str
    urls: tuple[str, ...] = ()  # public URLs, tried in order
    origin: str = ""  # where to get it by hand when there is no anonymous URL
    shipped: bool = False  # committed with the project (its licence allows it): never downloaded


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
    # The columns of product_info.csv the project reads (CC BY 4.0), so that the default profile
    # runs offline; made from the full file by write_sephora_extract.
    "sephora_extract": Source(
        "sephora/product_info_extract.csv.xz",
        "ccb1fb31dd4b14b3225152d5c07a2fd0202adccf95d497741d5f9afe799b5cad",
        origin="the project itself (data/shipped/), extracted from product_info.csv of the "
        + _SEPHORA_KAGGLE, shipped=True),
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
    if source.shipped:
        return _shipped(source)
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


def _shipped(source: Source) -> Path:
    path = SHIPPED_DIR / source.relpath
    restore = f"Restore it with `git checkout -- data/shipped/{source.relpath}`"
    if not path.is_file():
        raise DownloadError(f"{path} is missing: it ships with the project. {restore}.")
    actual = sha256_of(path)
    if actual != source.sha256:
        raise ChecksumError(f"{path} has SHA-256 {actual}, not {source.sha256}: it was changed. "
                            f"{restore}, or rebuild it with write_sephora_extract and update the "
                            "registry.")
    return path


SEPHORA_EXTRACT_COLUMNS = (
    "product_id", "product_name", "brand_id", "brand_name", "loves_count", "rating", "reviews",
    "size", "variation_type", "variation_value", "variation_desc", "ingredients", "price_usd",
    "value_price_usd", "sale_price_usd", "highlights", "primary_category", "secondary_category",
    "tertiary_category",
)


def write_sephora_extract(product_info: str | os.PathLike, out: str | os.PathLike) -> str:
    """Write the columns of product_info.csv the project reads, text unchanged, xz-compressed
    (8 MB -> 0.8 MB); returns its SHA-256. The same input always gives the same bytes."""
    import lzma

    raw = pd.read_csv(product_info, dtype="str", keep_default_na=False)
    missing = [c for c in SEPHORA_EXTRACT_COLUMNS if c not in raw.columns]
    if missing:
        raise ValidationError(f"{product_info}: missing column(s) {missing}; expected the Kaggle "
                              "product_info.csv.")
    text = raw[list(SEPHORA_EXTRACT_COLUMNS)].to_csv(index=False, lineterminator="\n")
    Path(out).write_bytes(lzma.compress(text.encode("utf-8"), preset=9))
    return sha256_of(out)


def _path_or_fetch(path: str | os.PathLike | None, name: str) -> Path:
    path = fetch(name) if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; pass the path of a {name} file, or "
                                "None to use the verified public copy.")
    return path


# ---------------------------------------------------------------------------------------------
# Loaders

_OPENERS = {".gz": gzip.open, ".xz": lzma.open}  # compressed text files, told by their suffix
_DAMAGED = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError)  # cut short or corrupt


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text with its line end) of a UTF-8 text file, decompressed if its name ends
    in .gz or .xz. Bytes that are not UTF-8 and damaged compressed data raise ValidationError
    naming the line."""
    number = 0
    try:
        with _OPENERS.get(path.suffix, open)(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                try:  # a byte-order mark (Excel writes one) marks the encoding; it is no data
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as exc:
                    raise ValidationError(
                        f"{path}, line {number}, byte {exc.start + 1}: "
                        f"{raw[exc.start:exc.end]!r} is not UTF-8 ({exc.reason}). Save the file "
                        "as UTF-8 (a compressed file must end in .gz or .xz) or use the original."
                    ) from exc
                yield number, text
    except _DAMAGED as exc:
        raise ValidationError(
            f"{path}, line {number + 1}: the compressed data is cut short or damaged ({exc}) "
            f"after {number} complete line(s). Download the file again (fetch() checks its "
            "SHA-256).") from exc


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
    for number, line in _lines(path):
        fields = line.split()
        if not fields:
            continue  # blank lines (e.g. at the end) carry nothing
        bad = next((x for x in fields if not (x.isascii() and x.isdigit() and len(x) < 19)), None)
        if bad is not None or len(fields) < 2:
            what = f"{bad!r} is not a non-negative integer id" if bad else "no item ids"
            raise ValidationError(
                f"{path}, line {number}: {what}; expected 'user_id item_id item_id ...' "
                "(whitespace-separated integer ids, one user per line). Fix the line or "
                "pass a file in this format.")
        user = int(fields[0])
        if user in first_line:
            raise ValidationError(f"{path}, line {number}: user {user} already has line "
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
    """Read {"item_id": [attribute_id, ...], ...}; ids must be JSON integers >= 0."""
    expected = '{"item_id": [attribute_id, ...], ...} with non-negative integer ids'

    def unique_keys(pairs: list[tuple]) -> dict:
        # json.loads would keep only the last list of an item given twice
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise ValidationError(f"{path}: item {key!r} appears more than once; expected "
                                      f"{expected}. Keep one entry per item.")
            seen.add(key)
        return dict(pairs)

    text = "".join(line for _, line in _lines(path))
    try:
        raw = json.loads(text, object_pairs_hook=unique_keys)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}, line {exc.lineno}: not valid JSON ({exc.msg} at "
                              f"character {exc.colno}); expected {expected}.") from exc
    if not isinstance(raw, dict):
        raise ValidationError(f"{path}: the file holds a JSON {type(raw).__name__}; expected "
                              f"{expected}.")
    attributes = {}
    for item, attrs in raw.items():
        # str(int(...)) == item: plain decimal digits only (no "007", "+7", " 7")
        if not (item.isascii() and item.isdigit() and str(int(item)) == item):
            raise ValidationError(f"{path}: item id {item!r} is not a non-negative integer "
                                  f"written in plain digits; expected {expected}. Fix the key.")
        # type() rather than isinstance(): JSON true/false are bools, not ids
        if not (isinstance(attrs, list) and all(type(a) is int and a >= 0 for a in attrs)):
            raise ValidationError(f"{path}: item {item}: {attrs!r:.80} is not a list of "
                                  f"attribute ids; expected {expected} (JSON numbers such as "
                                  "[1, 2], not strings or true/false). Fix the value.")
        attributes[int(item)] = attrs
    return attributes


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
# Columns a catalogue file must have: the shipped extract holds these and a few more of
# SEPHORA_DTYPES, which are typed when present.
_SEPHORA_REQUIRED = ("product_id", "product_name", "brand_name", "price_usd", "primary_category",
                     "secondary_category", "tertiary_category", "loves_count", "rating",
                     "highlights", "ingredients", "size", "variation_type")
_SEPHORA_NOT_EMPTY = ("product_id", "product_name", "brand_id", "brand_name", "loves_count",
                      "price_usd", "limited_edition", "new", "online_only", "out_of_stock",
                      "sephora_exclusive", "primary_category", "child_count")
# (low, high) of numeric values where present: prices and counts are never negative.
_SEPHORA_RANGES = {name: (0, np.inf) for name in (
    "price_usd", "value_price_usd", "sale_price_usd", "child_max_price", "child_min_price",
    "loves_count", "reviews", "child_count")} | {"rating": (0, 5)}


def _sephora_rule(name: str, dtype: str) -> str:
    """What a value of Sephora column ``name`` must be, for error messages."""
    low, high = _SEPHORA_RANGES.get(name, (-np.inf, np.inf))
    if dtype in ("str", "category"):
        rule = "text"
    elif dtype == "bool":
        rule = "0 or 1"
    else:
        rule = "a whole number" if dtype.lower() == "int64" else "a finite number"
        rule += f" from {low} to {high}" if high < np.inf else f" >= {low}" if low > -np.inf else ""
    return rule + ("; may not be empty" if name in _SEPHORA_NOT_EMPTY else "; may be empty")


def load_sephora_products(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The Sephora product catalogue (product_info.csv, or an extract holding at least the
    columns in _SEPHORA_REQUIRED; plain, .gz or .xz) with proper dtypes.

    Every column of SEPHORA_DTYPES present is typed and checked (prices finite and >= 0, rating
    0-5, counts whole numbers >= 0, flags 0 or 1) and product_id must be unique; other columns
    are kept as text. Errors name the file, line, data row (n-th row after the header), column
    and fix.
    """
    path = _path_or_fetch(path, "sephora_extract")
    reader = csv.reader((text for _, text in _lines(path)), strict=True)
    rows, lines = [], []  # the fields of each row and the line it ends on
    try:
        header = next(reader, [])
        for fields in reader:
            if not fields:
                continue  # blank lines carry nothing
            if len(fields) != len(header):
                raise ValidationError(
                    f"{path}, line {reader.line_num}: {len(fields)} fields, but the header has "
                    f"{len(header)}; the row is cut short or has an unquoted comma. Fix the line "
                    "or use the original Kaggle file.")
            rows.append(fields)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise ValidationError(f"{path}, line {reader.line_num}: not valid CSV ({exc}). Fix the "
                              "line (values holding commas, quotes or line breaks must be quoted) "
                              "or use the original Kaggle file.") from exc
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValidationError(f"{path}, line 1 (the header): column(s) {repeated} appear more "
                              "than once; give each column a single, distinct name.")
    missing = [name for name in _SEPHORA_REQUIRED if name not in header]
    if missing:
        raise ValidationError(
            f"{path}: missing column(s) {missing}; a Sephora catalogue needs at least the columns "
            f"{list(_SEPHORA_REQUIRED)} (the other columns of product_info.csv are optional). Use "
            "the Kaggle product_info.csv or an extract that keeps these columns.")
    raw = pd.DataFrame(rows, columns=header, dtype="str")
    raw = raw.mask(raw == "")  # an empty field is a missing value
    out = {}
    for name in header:
        dtype = SEPHORA_DTYPES.get(name, "str")  # columns the project does not know stay text
        col = raw[name]
        wrong = (col.isna() | (col.str.strip() == "")) & (name in _SEPHORA_NOT_EMPTY)
        if dtype not in ("str", "category"):
            numbers = pd.to_numeric(col, errors="coerce").astype("float64")
            if dtype == "bool":
                ok = numbers.isin([0, 1])
            else:
                ok = np.isfinite(numbers) & numbers.between(*_SEPHORA_RANGES.get(
                    name, (-np.inf, np.inf)))
            if dtype in ("int64", "Int64"):  # whole, and small enough to be exact as a float
                ok &= (numbers % 1 == 0) & (numbers.abs() <= 2**53)
            wrong |= col.notna() & ~ok
        if wrong.any():
            row = int(np.flatnonzero(wrong.to_numpy())[0])
            value = col.iloc[row]
            raise ValidationError(
                f"{path}, line {lines[row]} (data row {row + 1}, product "
                f"{raw['product_id'].iloc[row]!r}): column {name} is "
                f"{'' if pd.isna(value) else value!r}; expected {dtype} "
                f"({_sephora_rule(name, dtype)}). Fix the value or use the original Kaggle file.")
        out[name] = col.astype(dtype) if dtype in ("str", "category") else numbers.astype(dtype)
    ids = raw["product_id"]
    repeated = ids.duplicated().to_numpy()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        first = int(np.flatnonzero((ids == ids.iloc[row]).to_numpy())[0])
        raise ValidationError(
            f"{path}, lines {lines[first]} and {lines[row]} (data rows {first + 1} and "
            f"{row + 1}): column product_id is {ids.iloc[row]!r} in both; product ids must be "
            "unique. Remove the repeated row or use the original Kaggle file.")
    return pd.DataFrame(out)


_REVIEW_REQUIRED = ("overall", "asin", "reviewerID", "unixReviewTime")


def load_amazon_reviews(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Amazon 2018 review data (JSON lines, gzipped or not), e.g. All_Beauty_5.json.gz.

    Columns: reviewerID, asin (str), overall (float64), summary, reviewText (str, may be
    missing), verified (boolean), review_time (datetime64[s, UTC] from unixReviewTime).
    Each value is checked, never converted: a wrong one raises ValidationError naming the file,
    line and key.
    """
    path = _path_or_fetch(path, "amazon_all_beauty")
    start, end = time_window()
    low, high = int(start.timestamp()), int(end.timestamp())
    # type() rather than isinstance(): JSON true/false are bools, which are ints in Python
    rules = {  # key: (test, what a value must be); keys other than _REVIEW_REQUIRED may be absent
        "reviewerID": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
        "asin": (lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string"),
        "overall": (lambda v: type(v) in (int, float) and 1 <= v <= 5, "a number from 1 to 5"),
        "summary": (lambda v: v is None or isinstance(v, str), "a string or null"),
        "reviewText": (lambda v: v is None or isinstance(v, str), "a string or null"),
        "verified": (lambda v: v is None or type(v) is bool, "true, false or null"),
        "unixReviewTime": (lambda v: type(v) is int and low <= v <= high,
                           f"whole seconds since 1970 from {start:%Y-%m-%d} to "
                           f"{end:%Y-%m-%d %H:%M} UTC"),
    }
    records = []
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            review = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{path}, line {number}: not valid JSON ({exc.msg} at character "
                                  f"{exc.colno}); expected one review object per line.") from exc
        if not isinstance(review, dict):
            raise ValidationError(f"{path}, line {number}: a JSON {type(review).__name__}; "
                                  "expected one review object per line.")
        missing = [key for key in _REVIEW_REQUIRED if key not in review]
        if missing:
            raise ValidationError(f"{path}, line {number}: missing {missing}; each review needs "
                                  f"{', '.join(_REVIEW_REQUIRED)}. Fix the line.")
        for key, (test, expected) in rules.items():
            if not test(review.get(key)):
                raise ValidationError(f"{path}, line {number}, column {key}: "
                                      f"{review[key]!r:.80} is not {expected}. Fix the value or "
                                      "use the original file.")
        records.append([review.get(key) for key in rules])
    frame = pd.DataFrame(records, columns=list(rules))
    frame = frame.astype({"reviewerID": "str", "asin": "str", "overall": "float64",
                          "summary": "str", "reviewText": "str", "verified": "boolean"})
    frame["review_time"] = pd.to_datetime(frame.pop("unixReviewTime").astype("int64"), unit="s",
                                          utc=True).astype("datetime64[s, UTC]")
    return frame


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


_FORMS_TEXT = "*.csv, *.csv.gz, *.csv.zip or *.csv.bz2 (any case)"


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
        if not entry.is_file():
            skipped.append({"file": entry.name, "reason": "not a file (subfolders are not read)"})
        elif csv_form(entry) is None:
            skipped.append({"file": entry.name, "reason": f"not named {_FORMS_TEXT}"})
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
    *.csv.zip or *.csv.bz2 in any case) in calendar order, or the one file ``source``.
    convert_rees46 names the other entries of the folder in a warning and its report."""
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


def convert_rees46(
    source: str | os.PathLike | None = None,
    out_dir: str | os.PathLike | None = None,
    chunksize: int = DEFAULT_BLOCK_SIZE // 128,
    quarantine_path: str | os.PathLike | None = None,
    window: tuple | None = None,
) -> ConversionReport:
    """Convert REES46 CSVs to typed Parquet, partitioned by month, validating every row.

    ``source``: a folder of monthly CSVs (default data/raw/rees46/) or one file. Files named
    *.csv, *.csv.gz, *.csv.zip (one CSV inside) or *.csv.bz2, in any case, are read; other
    entries of the folder are named in a warning and in ``report.files_skipped``.
    ``out_dir`` (default data/interim/rees46_events/) gets month=YYYY-MM/part-0000.parquet;
    rejected rows go to ``quarantine_path`` (default <out_dir>_quarantine.parquet, next to it).
    ``chunksize`` is the approximate number of rows per block (the CSV is streamed in blocks of
    about chunksize * 128 bytes, at least 1 KiB). Event times must lie in ``window`` = (start,
    end), default utils.validate.time_window(); others are quarantined.

    Every header is checked before anything is written; the output replaces an earlier one only
    when the whole conversion has succeeded and the Parquet files hold exactly the rows kept.
    Raises NothingConverted (a ValidationError, with the report as ``.report``) when no row
    could be kept; the quarantine is written then, and an earlier output is left as it was.
    """
    started = time.perf_counter()
    files, skipped = _scan_rees46(source)
    out_dir = Path(out_dir) if out_dir is not None else config.data_dir("interim") / "rees46_events"
    if quarantine_path is None:
        quarantine_path = out_dir.with_name(out_dir.name + "_quarantine.parquet")
    quarantine_path = Path(quarantine_path)
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
    tmp_quarantine = tmp_dir / "quarantine.parquet"
    writers: dict[str, pq.ParquetWriter] = {}
    dedup = Deduplicator()
    block_size = max(chunksize * 128, 1 << 10)
    rows_in = dict.fromkeys(files, 0)  # data lines per file, for NothingConverted's message
    try:
        with pq.ParquetWriter(tmp_quarantine, QUARANTINE_SCHEMA) as quarantine_writer:
            for f in files:
                for batch, quarantine in read_events_csv(f, block_size, window):
                    keep = dedup.first_seen(batch)
                    kept = int(keep.sum())
                    rows_in[f] += batch.num_rows + len(quarantine)
                    report.rows_read += batch.num_rows
                    report.rows_kept += kept
                    report.duplicates_removed += batch.num_rows - kept
                    if kept:
                        clean = batch if kept == batch.num_rows else batch.filter(pa.array(keep))
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
            _replace_dir(tmp_dir / "events", out_dir)
        os.replace(tmp_quarantine, quarantine_path)
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
