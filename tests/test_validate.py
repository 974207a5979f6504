"""utils.data.validate on a hostile set of REES46-style CSVs and on in-memory frames."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from utils.data import validate as v
from utils.data.schema import COLUMNS, ValidationError
from utils.data.validate import REASONS, Deduplicator, validate_csv, validate_events

HEADER = ",".join(COLUMNS)
GOOD = ("2019-12-01 00:00:00 UTC,view,5712790,1487580005268456287,,f.o.x,6.27,576802932,"
        "51d85cb0-897f-48d2-918b-ad63965c12dc")
GOOD2 = ("2019-12-01 00:00:07 UTC,cart,5824148,1487580005511725929,appliances.iron,,5.56,"
         "576005683,28172809-7e4a-45ce-bab0-5efa90117cd5")


def row(**changes: str) -> str:
    """GOOD with some fields replaced."""
    fields = dict(zip(COLUMNS, GOOD.split(","), strict=True))
    fields.update(changes)
    return ",".join(fields.values())


# Each hostile case: (file name, data lines, reason of every data line in order; None = kept).
CASES = {
    "truncated": ([GOOD, GOOD[:40], "2019-12-01 00:00:00 UTC"],
                  [None, v.FIELD_COUNT, v.FIELD_COUNT]),
    "extra_columns": ([GOOD + ",surprise", GOOD2, GOOD2 + ",a,b"],
                      [v.FIELD_COUNT, None, v.FIELD_COUNT]),
    "wrong_types": (
        [row(product_id="abc"), row(category_id="1.5"), row(user_id=""), row(price="cheap"),
         row(product_id="-7"), row(user_id="99999999999999999999"), row(product_id=""), GOOD],
        [v.BAD_PRODUCT, v.BAD_CATEGORY, v.BAD_USER, v.BAD_PRICE, v.BAD_PRODUCT, v.BAD_USER,
         v.BAD_PRODUCT, None]),
    "garbage_timestamps": (
        [row(event_time="yesterday"), row(event_time="2019-02-30 00:00:00 UTC"),
         row(event_time="2019-12-01 00:00:00"), row(event_time="2019-12-1 0:0:0 UTC"),
         row(event_time=""), GOOD],
        [v.BAD_TIME] * 5 + [None]),
    "bad_prices": (
        [row(price="-1.0"), row(price="NaN"), row(price="inf"), row(price=""), row(price="0"),
         row(price="1e2")],
        [v.NEGATIVE_PRICE, v.NAN_PRICE, v.NAN_PRICE, v.BAD_PRICE, None, None]),
    "unknown_event_types": (
        [row(event_type="click"), row(event_type="VIEW"), row(event_type=""), GOOD2],
        [v.BAD_TYPE] * 3 + [None]),
    "stray_quotes": (  # quoting is off: a quote never swallows the next line
        [row(brand='"b,c"'), row(brand='"open'), row(event_type="view2")],
        [v.FIELD_COUNT, None, v.BAD_TYPE]),
    "missing_ids": ([row(user_session=""), ",,,,,,,,", "", GOOD],
                    [v.NO_SESSION, v.EMPTY, v.EMPTY, None]),
}


def write(path, lines: list[str], prefix: bytes = b"") -> str:
    path.write_bytes(prefix + ("\n".join([HEADER, *lines]) + "\n").encode())
    return str(path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_hostile_file(tmp_path, case):
    lines, expected = CASES[case]
    path = write(tmp_path / f"{case}.csv", lines)
    clean, quarantine, report = validate_csv(path)

    rejected = [(i + 2, REASONS[c]) for i, c in enumerate(expected) if c is not None]
    assert list(zip(quarantine["line"], quarantine["reason"], strict=True)) == rejected
    assert set(quarantine["source_file"]) <= {path}
    assert report.rows_read == len(lines)
    assert report.rows_kept == len(clean) == expected.count(None)
    assert report.rows_quarantined == len(rejected)
    assert report.duplicates_removed == 0
    report.check()
    for _, reason in rejected:
        assert reason in str(report)


def test_raw_fields_are_kept_as_strings(tmp_path):
    path = write(tmp_path / "raw.csv", [GOOD + ",x,y", row(price="cheap"), GOOD[:40]])
    _, quarantine, _ = validate_csv(path)
    by_line = quarantine.set_index("line")
    assert by_line.loc[2, "extra_fields"] == "x,y"
    assert by_line.loc[2, "user_session"] == GOOD.split(",")[-1]
    assert by_line.loc[3, "price"] == "cheap"
    assert by_line.loc[4, "event_type"] == "view" and pd.isna(by_line.loc[4, "brand"])
    assert list(quarantine.columns) == list(v.QUARANTINE_COLUMNS)
    assert all(str(t) == "str" for c, t in quarantine.dtypes.items() if c != "line")


def test_one_file_mixing_every_case(tmp_path):
    lines, expected = [], []
    for case in sorted(CASES):
        lines += CASES[case][0]
        expected += CASES[case][1]
    lines += [GOOD, GOOD2]  # exact duplicates of earlier rows
    latin1 = row(brand="caf\xe9").encode("latin-1")
    path = tmp_path / "everything.csv"
    path.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode() + latin1 + b"\n")
    clean, quarantine, report = validate_csv(path)

    counts = quarantine["reason"].value_counts().to_dict()
    expected_counts = pd.Series([REASONS[c] for c in expected if c is not None]
                                + [REASONS[v.ENCODING]]).value_counts().to_dict()
    assert counts == expected_counts == report.reasons
    assert report.rows_read == len(lines) + 1
    report.check()  # rows read == kept + quarantined + duplicates
    kept = zip(lines, expected + [None, None], strict=True)
    distinct = {line for line, code in kept if code is None}
    assert len(clean) == report.rows_kept == len(distinct) == 5  # GOOD, GOOD2 and three more
    assert report.duplicates_removed == expected.count(None) + 2 - len(distinct)
    assert quarantine["line"].is_unique
    assert quarantine.set_index("line").loc[len(lines) + 2, "reason"] == REASONS[v.ENCODING]


def test_line_numbers_across_many_blocks(tmp_path):
    """Small blocks: the line of each bad row is exact however the file is cut."""
    rng = np.random.default_rng(3)
    lines, bad = [], {}
    for i in range(6000):
        kind = rng.integers(0, 40)
        if kind == 0:
            lines.append(GOOD[:30])  # wrong field count (skipped by the parser)
            bad[i + 2] = REASONS[v.FIELD_COUNT]
        elif kind == 1:
            lines.append(row(price="-5"))  # value error (seen by the checks)
            bad[i + 2] = REASONS[v.NEGATIVE_PRICE]
        else:
            lines.append(row(product_id=str(i)))
    path = write(tmp_path / "blocks.csv", lines)
    clean, quarantine, report = validate_csv(path, block_size=1 << 14)
    assert dict(zip(quarantine["line"], quarantine["reason"], strict=True)) == bad
    assert report.rows_kept == len(clean) == len(lines) - len(bad)


def test_bom_is_accepted(tmp_path):
    path = write(tmp_path / "bom.csv", [GOOD, GOOD2], prefix=b"\xef\xbb\xbf")
    clean, quarantine, report = validate_csv(path)
    assert len(clean) == 2 and len(quarantine) == 0 and report.rows_read == 2


def test_crlf_line_endings(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(("\r\n".join([HEADER, GOOD, GOOD2]) + "\r\n").encode())
    clean, _, report = validate_csv(path)
    assert report.rows_kept == 2
    assert clean["user_session"].iloc[0] == GOOD.split(",")[-1]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    clean, quarantine, report = validate_csv(path)
    assert len(clean) == len(quarantine) == report.rows_read == 0
    assert any("empty file" in m for m in report.messages)
    assert "empty file" in str(report)


def test_header_only(tmp_path):
    clean, quarantine, report = validate_csv(write(tmp_path / "header.csv", []))
    assert len(clean) == len(quarantine) == report.rows_read == 0
    assert list(clean.columns) == list(COLUMNS)


@pytest.mark.parametrize("header, detail", [
    ("time,type,product,category,code,brand,price,user,session", "missing"),
    (",".join(c for c in COLUMNS if c != "brand"), "missing ['brand']"),
    (",".join([*COLUMNS, "extra"]), "unexpected ['extra']"),
    (",".join(reversed(COLUMNS)), "another order"),
    (",".join(f'"{c}"' for c in COLUMNS), "quoted"),
])
def test_wrong_header_is_a_file_level_error(tmp_path, header, detail):
    path = tmp_path / "wrong_header.csv"
    path.write_text(header + "\n" + GOOD + "\n")
    with pytest.raises(ValidationError) as err:
        validate_csv(path)
    message = str(err.value)
    assert str(path) in message and detail in message
    assert header in message and HEADER in message  # what was found and what was expected


def test_mixed_encodings(tmp_path):
    """latin-1 bytes inside a UTF-8 file: the row is quarantined with a reason, never lost."""
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        (HEADER + "\n" + row(brand="café") + "\n").encode("utf-8")
        + row(brand="caf\xe9").encode("latin-1") + b"\n"
        + (row(brand="crème", user_id="1") + "\n").encode("utf-8")
        + row(brand="\xe9").encode("latin-1")[:60] + b"\n"  # bad bytes and too few fields
    )
    clean, quarantine, report = validate_csv(path)
    assert clean["brand"].tolist() == ["café", "crème"]
    assert dict(zip(quarantine["line"], quarantine["reason"], strict=True)) == {
        3: REASONS[v.ENCODING], 5: REASONS[v.FIELD_COUNT]}
    assert quarantine.set_index("line").loc[3, "brand"] == "caf\ufffd"
    report.check()


def test_utf8_stream_keeps_characters_split_across_reads():
    data = ("é" * 10 + "x" + "€" * 7).encode() + b"\xe9!"
    for size in (1, 2, 3, 5):
        stream = v._Utf8Stream(io.BytesIO(data))
        out = b"".join(iter(lambda s=stream, n=size: s.read(n), b""))
        assert out.decode() == "é" * 10 + "x" + "€" * 7 + "\ufffd!"
        assert stream.saw_replacement


def test_gzip_file(tmp_path):
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt") as f:
        f.write("\n".join([HEADER, GOOD, GOOD, row(price="-1")]) + "\n")
    clean, quarantine, report = validate_csv(path)
    assert (report.rows_kept, report.duplicates_removed, report.rows_quarantined) == (1, 1, 1)


def test_typed_output(tmp_path):
    clean, _, _ = validate_csv(write(tmp_path / "ok.csv", [GOOD, GOOD2]))
    assert clean.dtypes.astype(str).to_dict() == {
        "event_time": "datetime64[s, UTC]", "event_type": "category", "product_id": "int64",
        "category_id": "int64", "category_code": "category", "brand": "category",
        "price": "float64", "user_id": "int64", "user_session": "str"}
    assert clean["event_time"].iloc[1] == pd.Timestamp("2019-12-01 00:00:07", tz="UTC")
    assert clean["category_id"].iloc[0] == 1487580005268456287  # exact: no float round trip
    assert pd.isna(clean["category_code"].iloc[0]) and pd.isna(clean["brand"].iloc[1])


# ---------------------------------------------------------------------------------------------
# Duplicates


def test_string_hash_does_not_depend_on_the_batch():
    words = ["51d85cb0-897f-48d2-918b-ad63965c12dc", "abc", "", "x" * 50]
    alone = [v._hash_strings(pa.array([w]))[0] for w in words]
    together = v._hash_strings(pa.array(words))
    assert list(together) == alone
    assert len(set(alone)) == len(words)


def test_deduplicator_across_batches():
    strings = pa.RecordBatch.from_pylist(
        [dict(zip(COLUMNS, r.split(","), strict=True)) for r in (GOOD, GOOD2)])
    batch, codes = v.check_batch(strings)
    assert not codes.any()
    dedup = Deduplicator()
    assert dedup.first_seen(batch).tolist() == [True, True]
    both = pa.concat_batches([batch.slice(1), batch, batch.slice(0, 1)])
    assert dedup.first_seen(both).tolist() == [False, False, False, False]


# ---------------------------------------------------------------------------------------------
# In-memory frames


def typed_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "event_time": pd.to_datetime(["2019-12-01 10:00:00"] * 6).tz_localize("UTC"),
        "event_type": ["view", "cart", "teleport", "purchase", "view", "view"],
        "product_id": [1, 2, 3, 4, 1, 5],
        "category_id": [10, 10, 10, 10, 10, 10],
        "category_code": [None, "a.b", None, None, None, None],
        "brand": ["x", None, "y", "z", "x", "q"],
        "price": [1.5, 2.0, 3.0, -4.0, 1.5, float("nan")],
        "user_id": [7, 7, 7, 7, 7, 8],
        "user_session": ["s", "s", "s", "s", "s", "t"],
        "segment": ["a", "b", "c", "d", "e", "f"],  # extra column: carried along
    })


def test_validate_events_on_a_typed_frame():
    frame = typed_frame()
    clean, quarantine, report = validate_events(frame, source="simulator")
    # NaN in a float column is pandas' "missing", so it reads as a missing price
    assert quarantine[["line", "reason"]].values.tolist() == [
        [2, REASONS[v.BAD_TYPE]], [3, REASONS[v.NEGATIVE_PRICE]], [5, REASONS[v.BAD_PRICE]]]
    assert quarantine["price"].tolist() == ["3.0", "-4.0", "nan"]
    assert set(quarantine["source_file"]) == {"simulator"}
    # row 4 equals row 0 except in the extra column, so it is not a duplicate
    assert report.duplicates_removed == 0 and len(clean) == 3
    assert clean["segment"].tolist() == ["a", "b", "e"]
    assert str(clean["event_time"].dtype) == "datetime64[s, UTC]"
    report.check()


def test_validate_events_drops_exact_duplicates():
    frame = typed_frame().drop(columns="segment")
    clean, _, report = validate_events(frame)
    assert report.duplicates_removed == 1 and len(clean) == 2
    assert report.rows_read == 6 == report.rows_kept + report.rows_quarantined + 1


def test_validate_events_on_strings_matches_the_csv_path(tmp_path):
    lines, _ = CASES["wrong_types"]
    frame = pd.DataFrame([line.split(",") for line in lines], columns=COLUMNS)
    clean, quarantine, _ = validate_events(frame)
    csv_clean, csv_quarantine, _ = validate_csv(write(tmp_path / "t.csv", lines))
    assert quarantine["reason"].tolist() == csv_quarantine["reason"].tolist()
    assert (quarantine["line"] + 2).tolist() == csv_quarantine["line"].tolist()
    pd.testing.assert_frame_equal(clean, csv_clean)


def test_validate_events_mixed_object_column():
    frame = typed_frame().drop(columns="segment")
    frame["product_id"] = pd.Series([1, "x", 3, 4, 1, "5"], dtype=object)
    _, quarantine, _ = validate_events(frame)
    assert dict(zip(quarantine["line"], quarantine["reason"], strict=True)) == {
        1: REASONS[v.BAD_PRODUCT], 2: REASONS[v.BAD_TYPE], 3: REASONS[v.NEGATIVE_PRICE],
        5: REASONS[v.BAD_PRICE]}


def test_validate_events_missing_column():
    with pytest.raises(ValidationError, match=r"sim has no column\(s\) \['user_session'\]"):
        validate_events(typed_frame().drop(columns="user_session"), source="sim")


def test_report_accounting_is_enforced():
    report = v.ValidationReport(rows_read=3, rows_kept=1)
    with pytest.raises(AssertionError, match="accounting"):
        report.check()


def test_unreadable_files_fail_with_the_file_name(tmp_path):
    cut = tmp_path / "cut.csv.gz"
    data = gzip.compress(("\n".join([HEADER] + [row(user_id=str(i)) for i in range(50_000)])
                          + "\n").encode())
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValidationError, match=r"cut.csv.gz: reading stopped"):
        validate_csv(cut)
    long = write(tmp_path / "long.csv", [GOOD, "x" * 100_000, GOOD2])
    with pytest.raises(ValidationError, match=r"long.csv: reading stopped.*block"):
        validate_csv(long, block_size=1 << 15)
    _, quarantine, _ = validate_csv(long)  # with the default block size it is just a bad row
    assert quarantine["line"].tolist() == [3]


def test_a_frame_read_back_from_parquet_is_checked(tmp_path):
    # text read from a Parquet file of several row groups is Arrow-backed and chunked in Arrow
    frame = pd.DataFrame({
        "event_time": pd.to_datetime(["2019-12-01 00:00:00", "2019-12-01 00:00:05"], utc=True),
        "event_type": ["view", "purchase"], "product_id": [1, 2], "category_id": [3, 3],
        "category_code": [None, "a.b"], "brand": ["x", None], "price": [1.5, 2.0],
        "user_id": [7, 7], "user_session": ["s1", "s2"],
    })
    frame.to_parquet(tmp_path / "events.parquet", row_group_size=1)
    clean, quarantine, report = validate_events(pd.read_parquet(tmp_path / "events.parquet"))
    assert report.rows_kept == 2 and quarantine.empty
