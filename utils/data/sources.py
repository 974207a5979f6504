"""Real public datasets: a checksummed download cache and typed loaders.

- ``fetch(name)`` returns a verified local copy of a file listed in ``REGISTRY`` (see
  ../shared/data/SOURCES.md): from the cache data/external/, else from a mirror (the ``mirror=``
  argument or $BEAUTY_DATA_MIRROR: a folder or an http(s) URL), else from the public URL.
- ``load_amazon_beauty``, ``load_sephora_products``, ``load_amazon_reviews`` read those files
  into typed DataFrames and say which file and line is wrong when one is malformed.

The monthly REES46 CSVs are converted by ``utils.data.rees46``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import lzma
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from utils.core import config, crypto
from utils.core.files import atomic_path
from utils.data.schema import ValidationError, require_columns
from utils.data.validate import time_window

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
    """The SHA-256 of a file's content (decrypted, for an encrypted file: the registry's checksums
    are of the plain files)."""
    if crypto.is_encrypted(path):
        return hashlib.sha256(crypto.read_bytes(path)).hexdigest()
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
    digest = hashlib.sha256()
    with atomic_path(target) as tmp, open(tmp, "wb") as out:
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


def fetch(name: str, mirror: str | os.PathLike | None = None) -> Path:
    """Return the path of a verified local copy of dataset file ``name`` (a REGISTRY key).

    Order: the cache data/external/<relpath> (or its encrypted form <relpath>.enc, which is
    returned as it is) if its checksum is right; else the mirror
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
    cached = crypto.plain_or_encrypted(target)
    if cached is not None:
        actual = sha256_of(cached)
        if actual == source.sha256:
            return cached
        cached_note = (f" (A file is already at {cached}, but its SHA-256 is {actual}, not "
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
    raw = pd.read_csv(product_info, dtype="str", keep_default_na=False)
    require_columns(raw, SEPHORA_EXTRACT_COLUMNS, str(product_info),
                    fix="Expected the Kaggle product_info.csv.")
    text = raw[list(SEPHORA_EXTRACT_COLUMNS)].to_csv(index=False, lineterminator="\n")
    with atomic_path(out) as tmp:
        tmp.write_bytes(lzma.compress(text.encode("utf-8"), preset=9))
    return sha256_of(out)


def _path_or_fetch(path: str | os.PathLike | None, name: str) -> Path:
    """``path`` (or its encrypted form <path>.enc), or the verified copy of ``name``."""
    if path is None:
        return fetch(name)
    found = crypto.plain_or_encrypted(path)
    if found is None:
        raise FileNotFoundError(f"{path} does not exist; pass the path of a {name} file, or "
                                "None to use the verified public copy.")
    return found


# ---------------------------------------------------------------------------------------------
# Loaders

_OPENERS = {".gz": gzip.open, ".xz": lzma.open}  # compressed text files, told by their suffix
_DAMAGED = (EOFError, gzip.BadGzipFile, zlib.error, lzma.LZMAError)  # cut short or corrupt


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text with its line end) of a UTF-8 text file, decrypted if it is encrypted
    (<name>.enc; see utils.core.crypto.for_reading for the memory that costs), then decompressed
    if its name ends in .gz or .xz. Bytes that are not UTF-8 and damaged compressed data raise
    ValidationError naming the line."""
    number = 0
    decompress = _OPENERS.get(Path(path.name.removesuffix(crypto.ENCRYPTED_SUFFIX)).suffix, nullcontext)
    stored = crypto.for_reading(path)  # a plain file's path, or an encrypted one's content
    stream = open(stored, "rb") if isinstance(stored, Path) else stored
    try:
        with stream, decompress(stream) as f:
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
    raw = pd.DataFrame(rows, columns=header, dtype="str")
    require_columns(raw, _SEPHORA_REQUIRED, str(path),
                    fix="A Sephora catalogue needs at least these; the other columns of "
                        "product_info.csv are optional. Use the Kaggle product_info.csv or an "
                        "extract that keeps these columns.")
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


