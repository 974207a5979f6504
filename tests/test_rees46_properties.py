"""Property tests of convert_rees46: random mixes of good and damaged lines, spread over files of
every form (plain, .gz, .zip, .bz2, in mixed case) and read in blocks of several sizes.

For every example: each data line is read once and kept, quarantined or dropped as a duplicate;
the Parquet files hold exactly the rows kept; every distinct good line is in them exactly once;
and every damaged line is in the quarantine with its file, its physical line number and the
reason it was given.
"""

from __future__ import annotations

import bz2
import gzip
import re
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utils.data import rees46
from utils.data import validate as v
from utils.data.schema import COLUMNS, EVENT_TYPES
from utils.data.validate import REASONS

HEADER = ",".join(COLUMNS).encode()
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FILE_NAMES = ("2019-Oct", "2019-Nov", "2019-Dec", "2020-Jan", "2020-Feb")
EXTENSIONS = ("csv", "CSV", "csv.gz", "Csv.Gz", "csv.zip", "CSV.ZIP", "csv.bz2", "csv.BZ2")
BLOCK_ROWS = (8, 16, 64, 100_000)  # convert_rees46's chunksize: blocks of 1 KiB to 12 MiB

# ---------------------------------------------------------------------------------------------
# Lines


@st.composite
def good_fields(draw) -> list[str]:
    """The nine fields of a valid event, each in the one form the conversion prints back."""
    month = draw(st.sampled_from(["2019-10", "2019-11", "2019-12", "2020-01", "2020-02"]))
    time = (f"{month}-{draw(st.integers(1, 28)):02d} {draw(st.integers(0, 23)):02d}:"
            f"{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d} UTC")
    return [
        time,
        draw(st.sampled_from(EVENT_TYPES)),
        str(draw(st.integers(0, 10**6))),
        str(draw(st.sampled_from([0, 1487580005268456287, 2**63 - 1]))),
        draw(st.sampled_from(["", "appliances.iron"])),
        draw(st.sampled_from(["", "runail", "café"])),
        f"{draw(st.integers(0, 100_000)) / 100:.2f}",
        str(draw(st.integers(0, 10**9))),
        draw(st.sampled_from(["s1", "51d85cb0-897f-48d2-918b-ad63965c12dc"])),
    ]


def replace(fields: list[str], **changes: str) -> list[str]:
    named = dict(zip(COLUMNS, fields, strict=True))
    named.update(changes)
    return list(named.values())


def encode(fields: list[str]) -> bytes:
    return ",".join(fields).encode()


# Each kind of damage: (reason code, strategy of the line's bytes given good fields).
DAMAGE = {
    "too_few_fields": (v.FIELD_COUNT, lambda f: st.integers(1, 8).map(lambda n: encode(f[:n]))),
    "too_many_fields": (v.FIELD_COUNT, lambda f: st.just(encode([*f, "extra"]))),
    "bad_utf8": (v.ENCODING, lambda f: st.just(encode(replace(f, brand="X")).replace(
        b",X,", b",caf\xe9,"))),
    "empty_line": (v.EMPTY, lambda f: st.sampled_from([b"", b",,,,,,,,"])),
    "bad_time": (v.BAD_TIME, lambda f: st.sampled_from(
        ["yesterday", "2019-02-30 00:00:00 UTC", "2019-12-01 00:00:00", ""]).map(
        lambda t: encode(replace(f, event_time=t)))),
    "outside_window": (v.OUTSIDE_WINDOW, lambda f: st.sampled_from(
        ["1970-01-01 00:00:00 UTC", "2099-01-01 00:00:00 UTC", "0001-01-01 00:00:00 UTC",
         "1999-12-31 23:59:59 UTC"]).map(lambda t: encode(replace(f, event_time=t)))),
    "bad_event_type": (v.BAD_TYPE, lambda f: st.sampled_from(["click", "VIEW", ""]).map(
        lambda t: encode(replace(f, event_type=t)))),
    "bad_product": (v.BAD_PRODUCT, lambda f: st.sampled_from(
        ["abc", "-1", "", "1.5", "99999999999999999999"]).map(
        lambda x: encode(replace(f, product_id=x)))),
    "bad_category": (v.BAD_CATEGORY, lambda f: st.sampled_from(["x", "-3", ""]).map(
        lambda x: encode(replace(f, category_id=x)))),
    "bad_user": (v.BAD_USER, lambda f: st.sampled_from(["u1", "", "9223372036854775808"]).map(
        lambda x: encode(replace(f, user_id=x)))),
    "bad_price": (v.BAD_PRICE, lambda f: st.sampled_from(["cheap", ""]).map(
        lambda x: encode(replace(f, price=x)))),
    "nan_price": (v.NAN_PRICE, lambda f: st.sampled_from(["NaN", "inf", "-inf"]).map(
        lambda x: encode(replace(f, price=x)))),
    "negative_price": (v.NEGATIVE_PRICE, lambda f: st.just(encode(replace(f, price="-1.50")))),
    "no_session": (v.NO_SESSION, lambda f: st.just(encode(replace(f, user_session="")))),
    "bare_cr": (v.CARRIAGE_RETURN, lambda f: st.sampled_from(["brand", "user_session"]).map(
        lambda c: encode(replace(f, **{c: "a\rb"})))),
}


@st.composite
def file_lines(draw, earlier_good: list[list[str]]) -> list[tuple[bytes, int | None]]:
    """Data lines of one file as (bytes without "\\n", reason code or None when valid). Good
    lines and repeats of earlier good ones (in this file or before) may end in "\\r\\n"."""
    lines = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["good", "good", "good", "repeat", *DAMAGE]))
        if kind in ("good", "repeat"):
            if kind == "repeat" and earlier_good:
                fields = draw(st.sampled_from(earlier_good))
            else:
                fields = draw(good_fields())
                earlier_good.append(fields)
            lines.append((encode(fields) + draw(st.sampled_from([b"", b"\r"])), None))
        else:
            code, damage = DAMAGE[kind]
            lines.append((draw(damage(draw(good_fields()))), code))
    return lines


@st.composite
def folders(draw):
    """Files (name, data lines, final newline or not, empty file or not) and a block size."""
    earlier_good: list[list[str]] = []
    files = []
    months = draw(st.lists(st.sampled_from(FILE_NAMES), min_size=1, max_size=4, unique=True))
    for month in months:
        files.append((f"{month}.{draw(st.sampled_from(EXTENSIONS))}",
                      draw(file_lines(earlier_good)), draw(st.booleans()),
                      draw(st.integers(0, 15)) == 0))
    return files, draw(st.sampled_from(BLOCK_ROWS))


def file_bytes(lines: list[bytes], final_newline: bool, empty: bool) -> bytes:
    if empty:
        return b""
    # Without a final newline the last line must still be one: not "" and not a CRLF half.
    if lines and (lines[-1] == b"" or lines[-1].endswith(b"\r")):
        final_newline = True
    return b"\n".join([HEADER, *lines]) + (b"\n" if final_newline else b"")


def write(path: Path, content: bytes) -> str:
    """Write ``content`` in the form the name says; returns the name the quarantine uses."""
    form = v.csv_form(path)
    if form == ".csv.gz":
        path.write_bytes(gzip.compress(content))
    elif form == ".csv.bz2":
        path.write_bytes(bz2.compress(content))
    elif form == ".csv.zip":
        member = path.name.split(".")[0] + ".csv"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, content)
        return f"{path} (member {member})"
    else:
        path.write_bytes(content)
    return str(path)


def convert(folder: Path, chunksize: int):
    """convert_rees46's report, also when it keeps nothing (NothingConverted carries it)."""
    try:
        return rees46.convert_rees46(folder / "raw", folder / "out", chunksize=chunksize)
    except rees46.NothingConverted as exc:
        assert exc.report.rows_kept == 0
        return exc.report


def output_rows(out: Path) -> list[tuple]:
    """The converted events, printed back in the CSV's form."""
    files = sorted(out.glob("month=*/*.parquet"))
    if not files:
        return []
    events = rees46.load_rees46_events(out)
    return list(zip(
        events["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
        events["event_type"].astype(str), events["product_id"].astype(str),
        events["category_id"].astype(str), events["category_code"].astype(object).fillna(""),
        events["brand"].astype(object).fillna(""), events["price"].map("{:.2f}".format),
        events["user_id"].astype(str), events["user_session"], strict=True))


# ---------------------------------------------------------------------------------------------
# Properties


@SETTINGS
@given(folders())
def test_every_line_is_accounted_for_exactly_once(example):
    files, chunksize = example
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "raw").mkdir()
        expected_quarantine, good = [], []
        data_lines = 0
        for name, lines, final_newline, empty in files:
            content = file_bytes([line for line, _ in lines], final_newline, empty)
            label = write(folder / "raw" / name, content)
            if empty:
                continue
            data_lines += len(lines)
            for number, (line, code) in enumerate(lines, start=2):  # the header is line 1
                if code is None:
                    good.append(tuple(line.removesuffix(b"\r").decode().split(",")))
                else:
                    expected_quarantine.append((label, number, REASONS[code]))

        report = convert(folder, chunksize)
        report.check()
        assert report.rows_read == data_lines
        assert report.rows_read == (report.rows_kept + report.rows_quarantined
                                    + report.duplicates_removed)
        # The Parquet files hold the rows kept, and each distinct good line once.
        rows = output_rows(folder / "out")
        assert len(rows) == report.rows_kept == sum(report.rows_by_month.values())
        assert Counter(rows) == Counter(set(good))
        assert report.duplicates_removed == len(good) - len(set(good))
        # Each damaged line is quarantined with its file, line and reason.
        quarantine = pq.read_table(report.quarantine_path).to_pandas()
        found = list(zip(quarantine["source_file"], quarantine["line"], quarantine["reason"],
                         strict=True))
        assert sorted(found) == sorted(expected_quarantine)
        names = [Path(f).name for f in report.sources]
        assert names == sorted(names, key=lambda n: FILE_NAMES.index(n.split(".")[0]))


# Lines of arbitrary bytes from an alphabet rich in trouble: commas, quotes, bare CRs,
# invalid and valid multi-byte UTF-8.
JUNK = st.lists(st.sampled_from([b"a", b"1", b",", b",", b"\r", b"\xff", b"\xc3\xa9", b'"',
                                 b" ", b"-", b"."]), max_size=30).map(b"".join)
GOOD = (b"2019-12-01 00:00:00 UTC,view,5712790,1487580005268456287,,f.o.x,6.27,576802932,"
        b"51d85cb0-897f-48d2-918b-ad63965c12dc")


@SETTINGS
@given(st.lists(st.one_of(JUNK, st.just(GOOD)), max_size=80), st.sampled_from(BLOCK_ROWS),
       st.sampled_from(EXTENSIONS), st.booleans())
def test_data_lines_equal_kept_quarantined_and_duplicates(lines, chunksize, extension,
                                                          final_newline):
    content = b"\n".join([HEADER, *lines]) + (b"\n" if final_newline else b"")
    # The lines as the quarantine shows them: bad bytes as U+FFFD, bare CRs as U+240D.
    text = re.sub("\r(?!\n)", v.CR_MARK, content.decode("utf-8", errors="replace"))
    shown = [line.removesuffix("\r") for line in text.split("\n")[1:]]
    if text.endswith("\n"):
        shown.pop()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "raw").mkdir()
        label = write(folder / "raw" / f"2019-Dec.{extension}", content)
        report = convert(folder, chunksize)

        assert report.rows_read == len(shown)  # data lines: "\n"-separated, after the header
        assert report.rows_read == (report.rows_kept + report.rows_quarantined
                                    + report.duplicates_removed)
        assert report.rows_kept == (GOOD in lines)
        quarantine = pq.read_table(report.quarantine_path).to_pylist()
        assert {row["source_file"] for row in quarantine} <= {label}
        assert sorted(row["line"] for row in quarantine) == [
            n for n, line in enumerate(shown, start=2) if line != GOOD.decode()]
        for row in quarantine:  # the raw text, kept whole
            fields = [row[c] for c in (*COLUMNS, "extra_fields") if row[c] is not None]
            assert ",".join(fields) == (shown[row["line"] - 2] or ",,,,,,,,"), row
