"""convert_rees46 on the damage a reviewer found: rows written twice, files ignored, times far
outside the data's years, carriage returns inside fields, cut or mislabelled compressed files,
and input with nothing to keep. Each test names what it guards."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from utils.data import rees46
from utils.data import validate as v
from utils.data.schema import COLUMNS, ValidationError
from utils.data.validate import REASONS, validate_csv, validate_events

HEADER = ",".join(COLUMNS)


def event(time: str = "2019-12-01 00:00:00 UTC", product: int = 1, **changes: str) -> str:
    fields = dict(zip(COLUMNS, [time, "view", str(product), "10", "", "b", "1.50", "100", "s"],
                      strict=True))
    fields.update(changes)
    return ",".join(fields.values())


def csv_text(lines: list[str], end: str = "\n") -> str:
    return end.join([HEADER, *lines]) + end


def quarantine_of(report) -> list[tuple[str, int, str]]:
    table = pq.read_table(report.quarantine_path).to_pandas()
    return list(zip(table["source_file"], table["line"], table["reason"], strict=True))


def parquet_rows(out: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in out.glob("month=*/*.parquet"))


# ---------------------------------------------------------------------------------------------
# 1. Rows written twice


def test_a_stray_month_inside_a_block_is_written_once(tmp_path):
    """First and last rows in December, one November row between them: 93 rows, 93 written."""
    lines = [event(product=i) for i in range(93)]
    lines[40] = event("2019-11-30 23:59:59 UTC", product=40)
    (tmp_path / "2019-Dec.csv").write_text(csv_text(lines))
    report = rees46.convert_rees46(tmp_path / "2019-Dec.csv", tmp_path / "out")
    assert report.rows_kept == 93
    assert report.rows_by_month == {"2019-11": 1, "2019-12": 92}
    assert parquet_rows(tmp_path / "out") == 93
    events = rees46.load_rees46_events(tmp_path / "out")
    assert sorted(events["product_id"]) == list(range(93))


def test_parquet_rows_are_counted_back_and_a_difference_raises(tmp_path, monkeypatch):
    """A writer that writes a batch twice is caught from the Parquet footers; nothing is
    published."""
    write_once = rees46._write_by_month

    def write_twice(batch, folder, writers):
        write_once(batch, folder, writers)
        write_once(batch, folder, writers)

    monkeypatch.setattr(rees46, "_write_by_month", write_twice)
    (tmp_path / "2019-Dec.csv").write_text(csv_text([event(product=1), event(product=2)]))
    with pytest.raises(AssertionError, match=r"2 rows were kept but the Parquet files hold 4"):
        rees46.convert_rees46(tmp_path / "2019-Dec.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_the_quarantine_file_may_not_lie_in_the_folder_each_conversion_replaces(tmp_path):
    (tmp_path / "2019-Dec.csv").write_text(csv_text([event()]))
    with pytest.raises(ValueError, match=r"lies inside out_dir .*out_quarantine.parquet"):
        rees46.convert_rees46(tmp_path / "2019-Dec.csv", tmp_path / "out",
                              quarantine_path=tmp_path / "out" / "quarantine.parquet")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# 2. Every file read or named


def zip_with(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


def test_every_form_of_csv_is_read_and_other_files_are_named(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "2019-Oct.csv").write_text(csv_text([event("2019-10-01 00:00:00 UTC", 1)]))
    (raw / "2019-Nov.CSV").write_text(csv_text([event("2019-11-01 00:00:00 UTC", 2)]))
    zip_with(raw / "2019-Dec.csv.zip", {"2019-Dec.csv": csv_text([event(product=3), "bad"])})
    (raw / "2020-Jan.csv.bz2").write_bytes(
        bz2.compress(csv_text([event("2020-01-01 00:00:00 UTC", 4)]).encode()))
    (raw / "2020-Feb.Csv.Gz").write_bytes(
        gzip.compress(csv_text([event("2020-02-01 00:00:00 UTC", 5)]).encode()))
    (raw / "notes.txt").write_text("not events")
    (raw / "old").mkdir()
    with pytest.warns(UserWarning, match=r"notes\.txt.*old"):
        report = rees46.convert_rees46(raw, tmp_path / "out")
    names = ["2019-Oct.csv", "2019-Nov.CSV", "2019-Dec.csv.zip", "2020-Jan.csv.bz2",
             "2020-Feb.Csv.Gz"]
    assert report.sources == [str(raw / n) for n in names]  # calendar order
    assert [s["file"] for s in report.files_skipped] == ["notes.txt", "old"]
    assert all(s["reason"] for s in report.files_skipped)
    assert any("notes.txt" in m for m in report.messages)
    assert report.rows_by_month == {"2019-10": 1, "2019-11": 1, "2019-12": 1, "2020-01": 1,
                                    "2020-02": 1}
    assert quarantine_of(report) == [
        (f"{raw / '2019-Dec.csv.zip'} (member 2019-Dec.csv)", 3, REASONS[v.FIELD_COUNT])]
    assert "notes.txt" in str(report)


@pytest.mark.parametrize("members", [{}, {"readme.txt": "hi"},
                                     {"2019-Oct.csv": HEADER, "2019-Nov.csv": HEADER}])
def test_a_zip_must_hold_exactly_one_csv(tmp_path, members):
    path = zip_with(tmp_path / "2019-Oct.csv.zip", members)
    with pytest.raises(ValidationError) as err:
        rees46.convert_rees46(path, tmp_path / "out")
    message = str(err.value)
    assert str(path) in message and "exactly one .csv" in message
    assert all(name in message for name in members)
    assert "nothing" in message or members


def test_a_single_file_with_another_name_is_refused(tmp_path):
    path = tmp_path / "events.txt"
    path.write_text(csv_text([event()]))
    with pytest.raises(ValidationError, match=r"events\.txt: the name does not end like"):
        rees46.convert_rees46(path, tmp_path / "out")


def test_a_folder_without_csv_files_names_what_it_holds(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "2019-Oct.xlsx").write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match=r"it holds only 2019-Oct\.xlsx"):
        rees46.convert_rees46(tmp_path / "raw", tmp_path / "out")


# ---------------------------------------------------------------------------------------------
# 3. Times outside the window


def test_times_outside_the_window_are_quarantined(tmp_path):
    lines = [event("1970-01-01 00:00:00 UTC"), event("2099-06-01 00:00:00 UTC"),
             event("0001-01-01 00:00:00 UTC"), event("1999-12-31 23:59:59 UTC"),
             event("2000-01-01 00:00:00 UTC"), event(), event("yesterday")]
    path = tmp_path / "2019-Dec.csv"
    path.write_text(csv_text(lines))
    report = rees46.convert_rees46(path, tmp_path / "out")
    outside = REASONS[v.OUTSIDE_WINDOW]
    assert quarantine_of(report) == [(str(path), 2, outside), (str(path), 3, outside),
                                     (str(path), 4, outside), (str(path), 5, outside),
                                     (str(path), 8, REASONS[v.BAD_TIME])]
    assert report.rows_by_month == {"2000-01": 1, "2019-12": 1}
    assert report.to_dict()["time_window"][0] == "2000-01-01 00:00:00+00:00"

    narrow = rees46.convert_rees46(path, tmp_path / "out",
                                     window=("2019-12-01", "2019-12-31 23:59:59"))
    assert narrow.rows_by_month == {"2019-12": 1}
    assert narrow.reasons[outside] == 5


def test_validate_csv_and_validate_events_use_the_same_window(tmp_path):
    lines = [event("1970-01-01 00:00:00 UTC"), event(), event("2099-01-01 00:00:00 UTC")]
    path = tmp_path / "t.csv"
    path.write_text(csv_text(lines))
    _, quarantine, report = validate_csv(path)
    assert quarantine["line"].tolist() == [2, 4]
    assert set(quarantine["reason"]) == {REASONS[v.OUTSIDE_WINDOW]}
    assert "time window" in str(report)
    frame = validate_csv(tmp_path / "t.csv", window=("1960-01-01", "2100-01-01"))[0]
    assert len(frame) == 3

    import pandas as pd

    typed = pd.DataFrame([line.split(",") for line in lines], columns=COLUMNS)
    typed["event_time"] = pd.to_datetime(typed["event_time"].str.removesuffix(" UTC"), utc=True)
    clean, quarantine, _ = validate_events(typed)
    assert quarantine["line"].tolist() == [0, 2] and len(clean) == 1
    assert len(validate_events(typed, window=("1960-01-01", "2100-01-01"))[0]) == 3
    with pytest.raises(ValueError, match="after it ends"):
        validate_events(typed, window=("2020-01-01", "2019-01-01"))


# ---------------------------------------------------------------------------------------------
# 4. Carriage returns


def test_a_bare_carriage_return_keeps_line_numbers_exact(tmp_path):
    lines = [event(product=1), event(product=2, brand="a\rb"), event(product=3, price="-1"),
             event(product=4, user_session="x\r"), event(product=5)]
    path = tmp_path / "2019-Dec.csv"
    path.write_bytes(csv_text(lines).encode())
    report = rees46.convert_rees46(path, tmp_path / "out")
    cr = REASONS[v.CARRIAGE_RETURN]
    assert quarantine_of(report) == [(str(path), 3, cr), (str(path), 4, REASONS[v.NEGATIVE_PRICE])]
    # "x\r\n" ends line 5 the Windows way: the line is kept, without the CR
    assert report.rows_read == 5 and report.rows_kept == 3
    sessions = rees46.load_rees46_events(tmp_path / "out")["user_session"].tolist()
    assert sessions == ["s", "x", "s"]
    table = pq.read_table(report.quarantine_path).to_pandas()
    assert table["brand"].iloc[0] == "a" + v.CR_MARK + "b"  # shown, not changed and kept


def test_crlf_files_and_a_final_bare_cr(tmp_path):
    path = tmp_path / "crlf.csv"
    path.write_bytes(csv_text([event(product=1), event(product=2)], end="\r\n").encode())
    assert validate_csv(path)[2].rows_kept == 2
    path.write_bytes((HEADER + "\n" + event(product=1) + "\n" + event(product=2) + "\r").encode())
    clean, quarantine, _ = validate_csv(path)
    assert len(clean) == 1
    assert quarantine[["line", "reason"]].values.tolist() == [[3, REASONS[v.CARRIAGE_RETURN]]]


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_the_stream_joins_cr_and_lf_split_across_reads(size):
    data = b"a\r\nb\rc\r\r\nd\r"
    stream = v._Utf8Stream(io.BytesIO(data))
    out = b"".join(iter(lambda: stream.read(size), b""))
    mark = v.CR_MARK.encode()
    assert out == b"a\r\nb" + mark + b"c" + mark + b"\r\nd" + mark
    assert stream.saw_bare_cr


def test_line_numbers_after_bare_crs_in_small_blocks(tmp_path):
    lines = [event(product=i, brand="x\ry" if i % 7 == 0 else "b") for i in range(2000)]
    path = tmp_path / "2019-Dec.csv"
    path.write_bytes(csv_text(lines).encode())
    report = rees46.convert_rees46(path, tmp_path / "out", chunksize=16)
    assert [line for _, line, _ in quarantine_of(report)] == [i + 2 for i in range(0, 2000, 7)]
    assert report.rows_kept == 2000 - len(range(0, 2000, 7))


# ---------------------------------------------------------------------------------------------
# 5. Cut or mislabelled compressed files


def damaged_files(folder: Path) -> dict[str, bytes]:
    data = csv_text([event(product=i) for i in range(3)]).encode()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("2019-Dec.csv", data)
    return {
        "cut.csv.gz": gzip.compress(data)[:12],
        "plain-text.csv.gz": data,
        "cut.csv.bz2": bz2.compress(data)[:20],
        "plain-text.csv.bz2": data,
        "cut.csv.zip": archive.getvalue()[:40],
        "plain-text.csv.zip": data,
    }


@pytest.mark.parametrize("name", sorted(damaged_files(Path())))
def test_a_damaged_compressed_file_is_named(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(damaged_files(tmp_path)[name])
    with pytest.raises(ValidationError) as err:
        rees46.convert_rees46(path, tmp_path / "out")
    message = str(err.value)
    assert message.startswith(str(path)) and "line 1 (the header)" in message
    assert "download" in message  # the fix
    with pytest.raises(ValidationError, match="line 1"):
        validate_csv(path)


def test_a_file_cut_after_its_header_names_the_line_reached(tmp_path):
    data = gzip.compress(csv_text([event(product=i) for i in range(20_000)]).encode())
    path = tmp_path / "2019-Dec.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValidationError, match=r"2019-Dec\.csv\.gz: reading stopped after line "
                                              r"\d+: .*download"):
        rees46.convert_rees46(path, tmp_path / "out", chunksize=100)


# ---------------------------------------------------------------------------------------------
# 6. Nothing to keep


def test_nothing_converted_says_why_for_each_file(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "2019-Oct.csv").write_bytes(b"")
    (raw / "2019-Nov.csv").write_text(HEADER)  # header only, no final newline
    (raw / "2019-Dec.csv").write_text(csv_text([event(price="-1"), "oops", event(event_type="x")]))
    (tmp_path / "out" / "month=2019-01").mkdir(parents=True)  # an earlier output
    with pytest.raises(rees46.NothingConverted) as err:
        rees46.convert_rees46(raw, tmp_path / "out")
    message = str(err.value)
    quarantine_path = tmp_path / "out_quarantine.parquet"
    assert f"{raw / '2019-Oct.csv'}: empty" in message
    assert f"{raw / '2019-Nov.csv'}: header only" in message
    assert f"{raw / '2019-Dec.csv'}: all 3 rows quarantined (see {quarantine_path})" in message
    assert isinstance(err.value, ValidationError)
    report = err.value.report
    assert (report.rows_read, report.rows_quarantined, report.rows_kept) == (3, 3, 0)
    assert report.to_dict()["rows_written"] == {}
    assert len(pq.read_table(quarantine_path)) == 3  # written for the user to read
    assert (tmp_path / "out" / "month=2019-01").is_dir()  # left as it was
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("content, said", [(b"", "empty"), (HEADER.encode(), "header only"),
                                           (HEADER.encode() + b"\r\n", "header only")])
def test_empty_and_header_only_files_alone(tmp_path, content, said):
    path = tmp_path / "2019-Dec.csv"
    path.write_bytes(content)
    with pytest.raises(rees46.NothingConverted, match=f"2019-Dec.csv: {said}"):
        rees46.convert_rees46(path, tmp_path / "out")
    clean, quarantine, report = validate_csv(path)
    assert len(clean) == len(quarantine) == report.rows_read == 0
    assert any(said in m for m in report.messages)


# ---------------------------------------------------------------------------------------------
# 7. The accounting as data


def test_to_dict_is_json_and_agrees_with_the_summary(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "2019-Dec.csv").write_text(csv_text([event(product=1), event(product=1),
                                                event("2019-11-02 00:00:00 UTC", 2),
                                                event(price="cheap")]))
    (raw / "list.txt").write_text("x")
    with pytest.warns(UserWarning):
        report = rees46.convert_rees46(raw, tmp_path / "out")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["files_read"] == ["2019-Dec.csv"]
    assert data["files_skipped"] == [{"file": "list.txt",
                                      "reason": report.files_skipped[0]["reason"]}]
    assert (data["rows_read"], data["rows_kept"], data["rows_quarantined"],
            data["duplicates_removed"]) == (4, 2, 1, 1)
    assert data["quarantined_by_reason"] == {REASONS[v.BAD_PRICE]: 1}
    assert data["rows_written"] == {"2019-11": 1, "2019-12": 1}
    assert data["out_dir"] == str(tmp_path / "out")
    assert data["quarantine_path"] == str(tmp_path / "out_quarantine.parquet")
    assert data["seconds"] >= 0
    text = report.summary()
    for part in ("2019-Dec.csv", "list.txt", "2019-11: 1", "2019-12: 1", REASONS[v.BAD_PRICE]):
        assert part in text


def test_reading_ahead_keeps_the_order_and_raises_what_the_reader_raised():
    def blocks():
        yield from range(5)
        raise ValidationError("line 7 is damaged")

    seen = []
    with pytest.raises(ValidationError, match="line 7"):
        for item in rees46._read_ahead(blocks()):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4]


def test_the_data_benchmark_writes_its_figures_side_by_side(tmp_path):
    out = tmp_path / "benchmark_data.json"
    result = rees46.benchmark_rees46(6000, out)  # 1,200 a month: each file gets the damaged lines
    assert json.loads(out.read_text()) == result
    assert result["rows"] > 6000
    # every side read every generated line (Arrow's parser alone drops the wrong field counts)
    assert result["convert_rows"] == result["pandas_read_csv_rows"] == result["rows"]
    assert 0 < result["rows"] - result["pyarrow_read_csv_rows"] < 10
    for name in ("convert_s", "pandas_read_csv_s", "pyarrow_read_csv_s", "convert_peak_mib",
                 "pandas_peak_mib", "pyarrow_peak_mib"):
        assert result[name] > 0, name
    assert result["convert_faster_than_pandas"] == (result["convert_s"] <= result["pandas_read_csv_s"])
    assert result["convert_memory_share_of_pandas"] == pytest.approx(
        result["convert_peak_mib"] / result["pandas_peak_mib"], abs=1e-3)
