"""Schema and value checks for shop events in the REES46 format, with a quarantine for bad rows.

One set of checks serves three callers:

- ``read_events_csv`` streams a (possibly huge) REES46 CSV in blocks, plain or compressed (see
  CSV_FORMS), and yields (typed clean rows, quarantined rows) per block;
  ``utils.data.rees46.convert_rees46`` uses it;
- ``validate_csv`` does the same for one file that fits in memory and returns DataFrames;
- ``validate_events`` checks an in-memory DataFrame (e.g. the simulator's output, notebook 03).

Nothing is dropped silently: every rejected row lands in a quarantine table with its source file,
physical line number (lines end at "\\n"; the header is line 1), reason and raw field values,
and ``ValidationReport`` accounts for every row read:
rows_read == rows_kept + rows_quarantined + duplicates_removed. Event times must lie in a time
window (``time_window``: 2000-01-01 to now + 1 day unless a caller passes another).
"""

from __future__ import annotations

import bz2
import codecs
import io
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from utils.core import crypto
from utils.data.schema import (
    COLUMNS,
    EVENT_TYPES,
    SCHEMA,
    TIME_FORMAT,
    ValidationError,
    require_columns,
)

DEFAULT_BLOCK_SIZE = 32 << 20  # bytes of CSV per block (~250k REES46 rows)

# Reasons a row is rejected. A row gets the first one that applies, in this order, so each row is
# counted exactly once. Code 0 means "kept".
REASONS = (
    "",
    f"wrong number of fields (expected {len(COLUMNS)})",
    "invalid UTF-8 bytes (shown as U+FFFD)",
    "carriage return inside a field (shown as U+240D)",
    "empty line (all fields empty)",
    "event_time is not 'YYYY-MM-DD HH:MM:SS UTC'",
    "event_time outside the time window (see the report)",
    f"event_type is not one of {', '.join(EVENT_TYPES)}",
    "product_id missing or not a non-negative integer",
    "category_id missing or not a non-negative integer",
    "price missing or not a number",
    "price is NaN or infinite",
    "price is negative",
    "user_id missing or not a non-negative integer",
    "user_session missing",
)
(KEPT, FIELD_COUNT, ENCODING, CARRIAGE_RETURN, EMPTY, BAD_TIME, OUTSIDE_WINDOW, BAD_TYPE,
 BAD_PRODUCT, BAD_CATEGORY, BAD_PRICE, NAN_PRICE, NEGATIVE_PRICE, BAD_USER,
 NO_SESSION) = range(len(REASONS))
QUARANTINE_COLUMNS = ("source_file", "line", "reason", *COLUMNS, "extra_fields")

_INT64_MAX = "9223372036854775807"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_NAN_INF = r"(?i)^[+-]?(nan|inf|infinity)$"


EARLIEST_EVENT = "2000-01-01"  # no e-commerce log of this project's kind is older


def time_window(start=EARLIEST_EVENT, end=None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The (start, end) in UTC, both included, that real event and review times must fall in;
    ``end`` defaults to now + 1 day, naive times are taken as UTC. Times outside it (1970 from a
    zero, year 1, 2099) are damage, not events."""
    end = pd.Timestamp.now(tz="UTC").floor("s") + pd.Timedelta(days=1) if end is None else end
    start, end = (pd.Timestamp(t) for t in (start, end))
    start, end = (t if t.tzinfo else t.tz_localize("UTC") for t in (start, end))
    if start > end:
        raise ValueError(f"time window starts at {start} after it ends at {end}; pass "
                         "(start, end) with start <= end.")
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def resolve_window(window: tuple | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``window`` = (start, end) as anything pd.Timestamp reads, or None for time_window()."""
    return time_window() if window is None else time_window(*window)


@dataclass
class ValidationReport:
    """Row accounting of one validation run; ``str(report)`` prints the counts by reason."""

    sources: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    rows_quarantined: int = 0
    duplicates_removed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)  # file-level notes (e.g. an empty file)
    window: tuple[str, str] = ()  # the event times accepted (start, end), in UTC

    def add_quarantine(self, reasons: pd.Series) -> None:
        """Count quarantined rows (one reason each); they are rows read, too."""
        counts = Counter(self.reasons)
        counts.update(reasons.value_counts().to_dict())
        self.reasons = dict(counts)
        self.rows_quarantined += len(reasons)
        self.rows_read += len(reasons)

    def check(self) -> None:
        """Raise AssertionError unless every row read is kept, quarantined or a duplicate."""
        accounted = self.rows_kept + self.rows_quarantined + self.duplicates_removed
        if self.rows_read != accounted or sum(self.reasons.values()) != self.rows_quarantined:
            raise AssertionError(f"row accounting is off: {self!r}")

    def summary(self) -> str:
        lines = [
            f"sources read ({len(self.sources)}): {', '.join(self.sources) or '-'}",
            f"  rows read          {self.rows_read:>12,}",
            f"  rows kept          {self.rows_kept:>12,}",
            f"  rows quarantined   {self.rows_quarantined:>12,}",
            f"  duplicates removed {self.duplicates_removed:>12,}",
        ]
        for reason, count in sorted(self.reasons.items(), key=lambda kv: -kv[1]):
            lines.append(f"    {count:>10,}  {reason}")
        if self.window:
            lines.append(f"  time window        {self.window[0]} to {self.window[1]}")
        lines += [f"  note: {m}" for m in self.messages]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


# ---------------------------------------------------------------------------------------------
# Column checks: each takes an Arrow array (strings from a CSV, or typed values from a DataFrame)
# and returns (typed values, ok mask). Invalid positions hold placeholders and are filtered later.


def _np(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _as_string(col: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.dictionary_decode()
    return col if col.type == pa.string() else pc.cast(col, pa.string())


def _to_int(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    if pa.types.is_string(col.type) or pa.types.is_dictionary(col.type):
        col = _as_string(col)
        digits = pc.fill_null(pc.ascii_is_decimal(col), False)  # "" and "-1" are not
        if pc.all(digits).as_py():
            try:  # fast path: all plain digits, and they fit
                return pc.cast(col, pa.int64()), np.ones(len(col), dtype=bool)
            except pa.ArrowInvalid:
                pass
        # Strings of 19 digits may still overflow int64: compare them with the largest one.
        length = pc.utf8_length(col)
        fits = pc.or_(pc.less(length, 19),
                      pc.and_(pc.equal(length, 19), pc.less_equal(col, _INT64_MAX)))
        ok = pc.and_(digits, fits)
        zero = "0"
    elif pa.types.is_integer(col.type):
        ok = pc.greater_equal(col, 0)
        if col.type == pa.uint64():
            ok = pc.and_(ok, pc.less_equal(col, 2**63 - 1))
        zero = 0
    elif pa.types.is_floating(col.type):
        ok = pc.and_(pc.and_(pc.is_finite(col), pc.greater_equal(col, 0)),
                     pc.and_(pc.equal(col, pc.floor(col)), pc.less(col, 2.0**63)))
        zero = 0.0
    else:
        return _to_int(_as_string(col))
    ok = pc.fill_null(ok, False)
    return pc.cast(pc.if_else(ok, col, pa.scalar(zero, col.type)), pa.int64()), _np(ok)


def _fixed_width(col: pa.Array) -> np.ndarray | None:
    """The bytes of a string array as an (n, width) matrix if all values have the same length."""
    n = len(col)
    if n == 0 or col.null_count or col.type != pa.string():
        return None
    offsets = np.frombuffer(col.buffers()[1], np.int32, n + 1, col.offset * 4)
    width = int(offsets[1] - offsets[0])
    if width == 0 or (np.diff(offsets) != width).any():
        return None
    return np.frombuffer(col.buffers()[2], np.uint8, n * width, int(offsets[0])).reshape(n, width)


def _to_time(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    utc = SCHEMA.field("event_time").type
    if pa.types.is_timestamp(col.type):
        # Naive timestamps are taken as UTC; sub-second parts are truncated (REES46 has seconds).
        values = pc.cast(col, pa.timestamp("s", tz=col.type.tz or "UTC"), safe=False)
        return pc.cast(values, utc), _np(pc.is_valid(values))
    col = _as_string(col)
    chars = _fixed_width(col)
    if chars is not None and chars.shape[1] == 23 and (chars[:, 10] == ord(" ")).all() \
            and (chars[:, 19:] == np.frombuffer(b" UTC", np.uint8)).all():
        # Fast path: Arrow's ISO-8601 cast is strict (no Feb 30, no 1-digit fields) and quick.
        n = len(col)
        iso = pa.StringArray.from_buffers(
            n, pa.py_buffer(np.arange(0, 19 * (n + 1), 19, dtype=np.int32)),
            pa.py_buffer(np.ascontiguousarray(chars[:, :19])))
        try:
            return pc.cast(pc.cast(iso, pa.timestamp("s")), utc), np.ones(n, dtype=bool)
        except pa.ArrowInvalid:
            pass
    parsed = pc.strptime(col, format=TIME_FORMAT, unit="s", error_is_null=True)
    # strptime is lenient (it rolls Feb 30 over to Mar 2, accepts "2019-12-1 0:0:0"): only
    # accept strings that are exactly what the parsed time prints back as.
    ok = pc.equal(col, pc.binary_join_element_wise(pc.cast(parsed, pa.string()), " UTC", ""))
    return pc.cast(parsed, utc), _np(ok)


def _to_event_type(col: pa.Array) -> tuple[pa.Array, np.ndarray]:
    index = pc.index_in(_as_string(col), value_set=pa.array(EVENT_TYPES))
    codes = pc.cast(pc.fill_null(index, 0), pa.int8())
    return pa.DictionaryArray.from_arrays(codes, pa.array(EVENT_TYPES)), _np(pc.is_valid(index))


def _to_price(col: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray, np.ndarray]:
    """Returns values and three masks: is a number, is finite, is non-negative."""
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        values = pc.cast(col, pa.float64())
        number = pc.is_valid(values)
    else:
        col = _as_string(col)
        try:  # fast path: every value is a number ("nan" and "inf" too: caught below)
            values = pc.cast(col, pa.float64())
            number = pa.array(np.ones(len(col), dtype=bool))
        except pa.ArrowInvalid:
            number = pc.or_(pc.match_substring_regex(col, _NUMBER),
                            pc.match_substring_regex(col, _NAN_INF))
            number = pc.fill_null(number, False)
            values = pc.cast(pc.if_else(number, col, "0"), pa.float64())
    values = pc.add(values, 0.0)  # turns -0.0 into 0.0 so equal prices hash equally
    finite = pc.is_finite(values)
    return values, _np(number), _np(finite), _np(pc.greater_equal(values, 0.0))


def _to_optional_label(col: pa.Array) -> pa.Array:
    col = _as_string(col)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    return pc.dictionary_encode(col)


def _all_empty(batch: pa.RecordBatch) -> np.ndarray:
    empty = np.ones(batch.num_rows, dtype=bool)
    for name in COLUMNS:
        col = _as_string(batch.column(name))
        empty &= _np(pc.or_kleene(pc.is_null(col), pc.equal(col, "")))
    return empty


def check_batch(
    batch: pa.RecordBatch, window: tuple | None = None
) -> tuple[pa.RecordBatch, np.ndarray]:
    """Type and check the nine REES46 columns of ``batch``; event times must lie in ``window``
    (see resolve_window).

    Returns the typed batch (SCHEMA; rejected rows hold placeholders) and an int8 array of reason
    codes, one per row: 0 = kept, otherwise an index into REASONS.
    """
    start, end = (int(t.timestamp()) for t in resolve_window(window))
    event_time, time_ok = _to_time(batch.column("event_time"))
    seconds = pc.fill_null(event_time.view(pa.int64()), start).to_numpy()
    in_window = (seconds >= start) & (seconds <= end)
    event_type, type_ok = _to_event_type(batch.column("event_type"))
    product_id, product_ok = _to_int(batch.column("product_id"))
    category_id, category_ok = _to_int(batch.column("category_id"))
    price, number, finite, non_negative = _to_price(batch.column("price"))
    user_id, user_ok = _to_int(batch.column("user_id"))
    session = _as_string(batch.column("user_session"))
    session_ok = _np(pc.greater(pc.utf8_length(session), 0))
    checks = [
        (BAD_TIME, time_ok), (OUTSIDE_WINDOW, in_window), (BAD_TYPE, type_ok),
        (BAD_PRODUCT, product_ok), (BAD_CATEGORY, category_ok), (BAD_PRICE, number),
        (NAN_PRICE, finite), (NEGATIVE_PRICE, non_negative), (BAD_USER, user_ok),
        (NO_SESSION, session_ok),
    ]
    codes = np.zeros(batch.num_rows, dtype=np.int8)
    for code, ok in reversed(checks):  # the earliest failing check wins
        codes[~ok] = code
    if codes.any():
        rejected = np.flatnonzero(codes)
        codes[rejected[_all_empty(batch.take(rejected))]] = EMPTY
    typed = pa.RecordBatch.from_arrays(
        [event_time, event_type, product_id, category_id,
         _to_optional_label(batch.column("category_code")),
         _to_optional_label(batch.column("brand")), price, user_id, session],
        schema=SCHEMA,
    )
    return typed, codes


# ---------------------------------------------------------------------------------------------
# Duplicates


def _hash_words(chars: np.ndarray) -> np.ndarray:
    """Hash each row of an (n, width) uint8 matrix, 8 bytes at a time (no Python strings)."""
    n, width = chars.shape
    padded = np.zeros((n, -(-width // 8) * 8), dtype=np.uint8)
    padded[:, :width] = chars
    hashed = np.full(n, width, dtype=np.uint64)  # the length tells "a" from "a\0"
    for word in padded.view(np.uint64).T:
        hashed = pd.util.hash_array(hashed * np.uint64(1_000_003) + word)
    return hashed


def _hash_strings(col: pa.Array) -> np.ndarray:
    """A hash per string that depends only on its bytes (so it agrees across batches)."""
    col = pc.fill_null(col, "\x00<null>")
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    data = np.frombuffer(col.buffers()[2] or b"", np.uint8)
    chars = _fixed_width(col)
    if chars is not None:  # e.g. all user_session UUIDs: one reshape, no copy
        return _hash_words(chars)
    lengths = np.diff(offsets)
    hashed = np.empty(len(col), dtype=np.uint64)
    for width in np.unique(lengths):  # one vectorised pass per distinct length
        rows = np.flatnonzero(lengths == width)
        hashed[rows] = _hash_words(data[offsets[rows, None] + np.arange(width)])
    return hashed


def _column_hash(col: pa.Array) -> np.ndarray:
    if pa.types.is_dictionary(col.type):
        # Hash each distinct label once, then spread the hashes by index (nulls get a constant).
        hashes = np.append(_hash_strings(col.dictionary), np.uint64(0x9E3779B97F4A7C15))
        return hashes[pc.fill_null(col.indices, len(col.dictionary)).to_numpy()]
    if pa.types.is_string(col.type):
        return _hash_strings(col)
    values = col.to_numpy(zero_copy_only=False)
    return pd.util.hash_array(values.view(np.uint64) if values.dtype.itemsize == 8 else values)


def row_hashes(batch: pa.RecordBatch) -> np.ndarray:
    """A 64-bit hash per row over all columns of a typed (SCHEMA) batch."""
    hashed = np.zeros(batch.num_rows, dtype=np.uint64)
    for col in batch.columns:
        if pa.types.is_timestamp(col.type):
            col = col.view(pa.int64())
        # Column hashes are already well mixed: an odd multiplier keeps a one-column
        # difference from ever cancelling out, and one final mix spreads the sum.
        hashed = hashed * np.uint64(1_000_003) + _column_hash(col)
    return pd.util.hash_array(hashed)


class Deduplicator:
    """Drops exact duplicate rows across any number of batches and files, keeping the first.

    It remembers one 64-bit hash per distinct row (8 bytes a row: 166 MB for the 20.7M rows of
    REES46) in sorted numpy arrays, one per day of event_time: identical rows share their
    event_time, so a batch only has to merge into the few days it covers. Rows are compared by
    hash only: two different rows collide with probability about n^2 / 2^65 (~1e-5 for 20.7M
    rows), which we accept rather than keep every row around to compare.
    """

    def __init__(self) -> None:
        self.seen: dict[int, np.ndarray] = {}

    def first_seen(self, batch: pa.RecordBatch, hashes: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of the rows of ``batch`` not seen before (in this or earlier batches).
        ``hashes``: its row_hashes, if already computed (on another thread)."""
        hashes = row_hashes(batch) if hashes is None else hashes
        days = batch.column("event_time").view(pa.int64()).to_numpy() // 86_400
        keep = np.zeros(len(hashes), dtype=bool)
        order = np.argsort(days, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(days[order])) + 1):
            if not len(rows):
                continue
            day = int(days[rows[0]])
            seen = self.seen.get(day, np.empty(0, dtype=np.uint64))
            unique, first = np.unique(hashes[rows], return_index=True)  # first occurrences
            pos = np.searchsorted(seen, unique)
            new = pos == len(seen)
            new[~new] = seen[pos[~new]] != unique[~new]
            keep[rows[first[new]]] = True
            self.seen[day] = np.insert(seen, pos[new], unique[new])
        return keep


# ---------------------------------------------------------------------------------------------
# CSV files


# The forms of a REES46 CSV that are read, by how the file name ends (in any case), and their
# compression. A .csv.zip (Kaggle's download of one file) must hold exactly one CSV. Each may be
# encrypted (utils.core.crypto): <name>.enc has the form of <name>.
CSV_FORMS = {".csv": None, ".csv.gz": "gzip", ".csv.bz2": "bz2", ".csv.zip": "zip"}
# What a file holds, as check_header says it, and how reports describe the first two.
EMPTY_FILE, HEADER_ONLY, HAS_ROWS = "empty", "header only", "rows"
NOTHING_TO_READ = {EMPTY_FILE: "empty file (no header, no rows)",
                   HEADER_ONLY: "header only (no rows after the header)"}
CR_MARK = "\u240d"  # "␍" stands in for a carriage return inside a field (see _Utf8Stream)
_BARE_CR = re.compile(rb"\r(?!\n)")
# What a damaged, cut or mislabelled file raises while it is read, in Arrow or in Python.
_READ_ERRORS = (OSError, EOFError, zlib.error, zipfile.BadZipFile, NotImplementedError,
                pa.ArrowInvalid)


def csv_form(path: str | Path) -> str | None:
    """The key of CSV_FORMS that the name of ``path`` ends with (any case), or None; an
    encrypted file, <name>.enc, has the form of <name>."""
    name = Path(path).name.lower().removesuffix(crypto.ENCRYPTED_SUFFIX)
    return next((form for form in CSV_FORMS if name.endswith(form)), None)


def open_csv(path: str | Path):
    """Open the CSV text in ``path`` (plain, or compressed as its name says; decrypted first when
    it is encrypted) as a binary stream.

    Returns (stream, name): the name that reports and the quarantine give the file, which is
    '<path> (member <name>)' for a zip. Raises ValidationError for a zip that does not hold
    exactly one CSV, what _READ_ERRORS lists for an unreadable file, and crypto.DecryptionError
    for an encrypted one that was changed, cut or encrypted with another key.
    """
    path = str(path)
    compression = CSV_FORMS.get(csv_form(path))
    # An encrypted file is decrypted into memory, whole (AES-GCM checks all of it before it gives
    # out a byte): that holds the file's size, compressed if it is, so encrypt 2019-Dec.csv.gz
    # rather than 2019-Dec.csv, several times larger. The header check and the reading each
    # decrypt it, one after the other.
    source = crypto.for_reading(path)
    if compression == "zip":
        with zipfile.ZipFile(source) as archive:  # the member stays readable after the with
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1 or csv_form(members[0].filename) != ".csv":
                names = ", ".join(m.filename for m in members) or "nothing"
                raise ValidationError(
                    f"{path}: a .csv.zip must hold exactly one .csv file; it holds {names}. "
                    "Unzip it and put the CSV file(s) in the folder instead, then run again.")
            return archive.open(members[0]), f"{path} (member {members[0].filename})"
    if compression == "bz2":
        return bz2.open(source, "rb"), path
    return pa.input_stream(source, compression=compression), path


def _unreadable(source: str, exc: BaseException, where: str) -> ValidationError:
    return ValidationError(
        f"{source}: {where}: {type(exc).__name__}: {exc}. If the file is cut short (an "
        "interrupted download) or is not what its name says (.gz, .bz2, .zip), download or "
        "compress it again; if a line is longer than a block, read with a larger block size "
        "(convert_rees46: a larger chunksize). Else remove the file and run again.")


def check_header(path: str | Path) -> str:
    """Raise ValidationError unless ``path`` starts with the REES46 header (a UTF-8 BOM is
    fine) or cannot be read; returns EMPTY_FILE, HEADER_ONLY or HAS_ROWS."""
    stream, source = None, str(path)
    try:
        stream, source = open_csv(path)
        head = b""
        while True:  # up to the header's newline and one byte past it, or the end of the file
            data = stream.read(1 << 16)
            head += data
            rest = head.partition(b"\n")[2]
            if not data or rest or len(head) > 1 << 16:
                break
    except _READ_ERRORS as exc:
        raise _unreadable(source, exc, "line 1 (the header) cannot be read") from exc
    finally:
        if stream is not None:
            stream.close()
    head = head.removeprefix(codecs.BOM_UTF8)
    if not head:
        return EMPTY_FILE
    # No quotes: REES46 never quotes (see read_events_csv).
    found = head.partition(b"\n")[0].decode("utf-8", errors="replace").rstrip("\r").split(",")
    if tuple(found) != COLUMNS:
        missing = [c for c in COLUMNS if c not in found]
        unexpected = [c for c in found if c not in COLUMNS]
        detail = "; ".join(filter(None, [
            f"missing {missing}" if missing else "",
            f"unexpected {unexpected[:20]}" if unexpected else "",
            "same names in another order" if not missing and not unexpected else "",
            "the names are quoted, REES46 files are not" if '"' in "".join(found) else "",
        ]))
        raise ValidationError(
            f"{source}: line 1 (the header) is {','.join(found)[:300]!r} ({detail}); expected "
            f"exactly {','.join(COLUMNS)!r}. Is this a REES46 / Kaggle 'eCommerce events history "
            "in cosmetics shop' CSV? Fix or remove the file and run again."
        )
    return HAS_ROWS if rest else HEADER_ONLY


class _Utf8Stream(io.RawIOBase):
    """A read-only stream that always yields valid UTF-8 in which every line is one CSV row.

    - A stray latin-1 byte must not crash the CSV parser half-way: ASCII blocks pass through
      untouched (the fast path, all of REES46); other blocks are decoded with errors="replace",
      and rows holding the U+FFFD that replaces the bad bytes are quarantined (ENCODING).
    - Arrow's parser ends a row at a bare carriage return (one not followed by "\\n"), which
      would split a line in two and shift every later line number. A bare CR becomes CR_MARK,
      and rows holding it are quarantined (CARRIAGE_RETURN); "\\r\\n" line ends stay as they are.
    """

    def __init__(self, raw) -> None:
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.pending = b""
        self.held_cr = b""  # a CR that ended the last read: its "\n" may start the next one
        self.ended = False
        self.saw_replacement = False
        self.saw_bare_cr = False

    def readable(self) -> bool:
        return True

    def _next_block(self, size: int) -> bytes:
        while True:
            data = self.raw.read(size)
            end = not data
            if not data.isascii() or self.decoder.getstate()[0]:
                text = self.decoder.decode(data, final=end)
                self.saw_replacement |= "\ufffd" in text
                data = text.encode("utf-8")
            data, self.held_cr = self.held_cr + data, b""
            if not end and data.endswith(b"\r"):
                data, self.held_cr = data[:-1], b"\r"
            if data.count(b"\r") != data.count(b"\r\n"):  # two fast scans; rarely true
                data = _BARE_CR.sub(CR_MARK.encode(), data)
                self.saw_bare_cr = True
            if data or end:  # b"" means end of file, so only return it at the end
                return data

    def read(self, size: int = -1) -> bytes:
        # Fill the whole size unless the file ends: Arrow fails on a block holding no newline,
        # which a short read of the few bytes left over from a longer decoded block could be.
        size = size if size and size > 0 else 1 << 24
        data, self.pending = self.pending, b""
        while len(data) < size and not self.ended:
            block = self._next_block(size - len(data))
            self.ended = not block
            data = data + block if data else block
        data, self.pending = data[:size], data[size:]  # never hand out more than asked for
        return data


def _contains(batch: pa.RecordBatch, text: str) -> np.ndarray:
    """Rows of a batch of strings with ``text`` in any column."""
    found = np.zeros(batch.num_rows, dtype=bool)
    for name in COLUMNS:
        found |= _np(pc.match_substring(batch.column(name), text))
    return found


def _quarantine_frame(source: str, lines, reasons, rows: list[list]) -> pd.DataFrame:
    """Quarantined rows: where they came from, why, and their raw fields as strings."""
    table = {"source_file": [source] * len(rows), "line": lines, "reason": reasons}
    for i, name in enumerate(COLUMNS):
        table[name] = [r[i] if i < len(r) else None for r in rows]
    table["extra_fields"] = [",".join(r[len(COLUMNS):]) if len(r) > len(COLUMNS) else None
                             for r in rows]
    frame = pd.DataFrame(table)
    return frame.astype({name: "int64" if name == "line" else "str" for name in frame.columns})


def empty_quarantine() -> pd.DataFrame:
    return _quarantine_frame("", [], [], [])


def read_events_csv(
    path: str | Path, block_size: int = DEFAULT_BLOCK_SIZE, window: tuple | None = None
) -> Iterator[tuple[pa.RecordBatch, pd.DataFrame]]:
    """Stream a REES46 CSV (any of CSV_FORMS) block by block; event times must lie in
    ``window`` (see resolve_window).

    Yields (clean typed batch, quarantined rows) per block; duplicates are NOT removed here (see
    Deduplicator). Raises ValidationError for a wrong header or an unreadable file; yields
    nothing for an empty or header-only file.
    """
    if check_header(path) != HAS_ROWS:
        return
    window = resolve_window(window)  # one "now" for the whole file
    # (physical line number, text) of each row with the wrong field count. The parser may
    # already be adding rows of the next block while a batch is handled here, so each batch
    # works on a snapshot of its length.
    bad: list[tuple[int, str]] = []

    def on_bad_row(row) -> str:
        bad.append((row.number, row.text))
        return "skip"

    raw, source = None, str(path)
    rows_before = 0  # rows the parser has returned so far (wrong field counts excluded)
    reported_bad = 0
    last_line = 1  # the line of the last row handed out
    try:
        raw, source = open_csv(path)
        stream = _Utf8Stream(raw)
        reader = pcsv.open_csv(
            stream,
            # One thread: the parser then knows line numbers (and threads did not help on 2 cores).
            read_options=pcsv.ReadOptions(skip_rows=1, column_names=list(COLUMNS),
                                          block_size=block_size, use_threads=False),
            # REES46 never quotes a field. Quoting is off so that a stray quote cannot swallow the
            # lines after it: every physical line is one row, and line numbers stay exact.
            parse_options=pcsv.ParseOptions(quote_char=False, invalid_row_handler=on_bad_row,
                                            ignore_empty_lines=False),
            convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in COLUMNS},
                                                strings_can_be_null=False),
        )
        for batch in reader:
            typed, codes = check_batch(batch, window)
            # The stream sets these flags before the parser sees the bytes; the earlier reason
            # (ENCODING) is set last so that it wins.
            if stream.saw_bare_cr:
                codes[_contains(batch, CR_MARK)] = CARRIAGE_RETURN
            if stream.saw_replacement:
                codes[_contains(batch, "\ufffd")] = ENCODING
            n_bad = len(bad)  # every wrong row before this batch's last row is in bad[:n_bad]
            bad_lines = np.fromiter((line for line, _ in bad[:n_bad]), np.int64, n_bad)
            # The k-th returned row is on line 2 + k + (wrong-field-count rows before it).
            good_before_bad = bad_lines - 2 - np.arange(n_bad)
            rejected = np.flatnonzero(codes)
            k = rows_before + np.append(rejected, batch.num_rows - 1)
            lines = 2 + k + np.searchsorted(good_before_bad, k, side="right")
            lines, last_line = lines[:-1], max(last_line, int(lines[-1]))
            rows = [list(r.values()) for r in batch.take(rejected).to_pylist()]
            quarantine = [_quarantine_frame(source, lines, [REASONS[c] for c in codes[rejected]],
                                            rows)]
            if n_bad > reported_bad:
                quarantine.append(_wrong_field_counts(source, bad[reported_bad:n_bad]))
                reported_bad = n_bad
            rows_before += batch.num_rows
            quarantine = pd.concat(quarantine, ignore_index=True).sort_values("line", kind="stable")
            clean = typed.filter(pa.array(codes == 0)) if codes.any() else typed
            yield clean, quarantine.reset_index(drop=True)
    except _READ_ERRORS as exc:  # e.g. a line longer than a block, a cut .gz
        raise _unreadable(source, exc, f"reading stopped after line {last_line}") from exc
    finally:
        if raw is not None:
            raw.close()
    if len(bad) > reported_bad:  # bad rows after the last block of good ones
        empty = pa.RecordBatch.from_pylist([], schema=SCHEMA)
        yield empty, _wrong_field_counts(source, bad[reported_bad:])


def _wrong_field_counts(source: str, bad: list[tuple[int, str]]) -> pd.DataFrame:
    rows = [text.rstrip("\r").split(",") for _, text in bad]
    return _quarantine_frame(source, [line for line, _ in bad], [REASONS[FIELD_COUNT]] * len(rows),
                             rows)


def validate_csv(
    path: str | Path, block_size: int = DEFAULT_BLOCK_SIZE, window: tuple | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, ValidationReport]:
    """Validate one REES46 CSV that fits in memory: (clean events, quarantine, report).
    Event times must lie in ``window`` (see resolve_window)."""
    window = resolve_window(window)
    report = ValidationReport(sources=[str(path)], window=tuple(str(t) for t in window))
    status = check_header(path)
    if status != HAS_ROWS:
        report.messages.append(f"{path}: {NOTHING_TO_READ[status]}; nothing to read")
    dedup = Deduplicator()
    clean, quarantined = [], []
    for batch, quarantine in read_events_csv(path, block_size, window):
        keep = dedup.first_seen(batch)
        clean.append(batch.filter(pa.array(keep)))
        quarantined.append(quarantine)
        report.add_quarantine(quarantine["reason"])
        report.rows_read += batch.num_rows
        report.rows_kept += int(keep.sum())
        report.duplicates_removed += int((~keep).sum())
    report.check()
    events = pa.Table.from_batches(clean, schema=SCHEMA).to_pandas()
    return events, pd.concat([empty_quarantine(), *quarantined], ignore_index=True), report


# ---------------------------------------------------------------------------------------------
# In-memory frames


def _frame_column(series: pd.Series) -> pa.Array:
    try:
        column = pa.array(series, from_pandas=True)
        # an Arrow-backed pandas column (e.g. text read from Parquet) comes back chunked
        return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed objects: check them as text
        return pa.array([None if v is None or v is pd.NA else str(v) for v in series],
                        type=pa.string())


def _raw(value) -> str | None:
    return None if value is None or value is pd.NA or value is pd.NaT else str(value)


def validate_events(
    df: pd.DataFrame, source: str = "<frame>", drop_duplicates: bool = True,
    window: tuple | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, ValidationReport]:
    """Apply the REES46 checks to an in-memory frame: (clean events, quarantine, report).
    Event times must lie in ``window`` (see resolve_window).

    Columns may be typed (datetimes, ints, floats, categoricals) or strings in the CSV format.
    Extra columns are carried along unchecked. In the quarantine, ``line`` is the row's 0-based
    position in ``df`` (``df.iloc[line]``), since a frame has no lines.
    """
    require_columns(df, COLUMNS, source, "An event table has the REES46 columns (utils.data.schema).")
    window = resolve_window(window)
    report = ValidationReport(sources=[source], window=tuple(str(t) for t in window))
    batch = pa.RecordBatch.from_arrays([_frame_column(df[c]) for c in COLUMNS], names=COLUMNS)
    typed, codes = check_batch(batch, window)
    rejected = np.flatnonzero(codes)
    raw = df.iloc[rejected][list(COLUMNS)].map(_raw).values.tolist()
    quarantine = _quarantine_frame(source, rejected, [REASONS[c] for c in codes[rejected]], raw)
    report.add_quarantine(quarantine["reason"])

    kept = codes == 0
    clean = typed.filter(pa.array(kept)).to_pandas()
    extra = [c for c in df.columns if c not in COLUMNS]
    for name in extra:
        clean[name] = df[name].iloc[np.flatnonzero(kept)].reset_index(drop=True)
    report.rows_read += len(clean)
    if drop_duplicates:
        duplicated = clean.duplicated(keep="first").to_numpy()
        clean = clean[~duplicated].reset_index(drop=True)
        report.duplicates_removed = int(duplicated.sum())
    report.rows_kept = len(clean)
    report.check()
    return clean, quarantine, report
