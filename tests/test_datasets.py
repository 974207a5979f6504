"""utils.data.sources: checksummed fetch through a local HTTP mirror, loaders on the real files, and
the REES46 CSV -> Parquet conversion.

The real files live beside the project in ../shared/data (or $BEAUTY_DATA_MIRROR); tests that
need them are skipped when they are absent. Nothing is written into the repository: every test
runs with BEAUTY_WORKDIR pointing at its own temporary folder.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from utils.core import config
from utils.data import rees46, sources
from utils.data.schema import COLUMNS, ValidationError
from utils.data.sources import REGISTRY, ChecksumError, DownloadError, fetch
from utils.data.validate import REASONS


def _find_shared_data() -> Path | None:
    mirror = os.environ.get(sources.MIRROR_ENV, "")
    for candidate in (mirror, config.PROJECT_ROOT.parent / "shared" / "data"):
        if candidate and "://" not in str(candidate) and \
                (Path(candidate) / "amazon_beauty" / "Beauty.txt").is_file():
            return Path(candidate)
    return None


SHARED = _find_shared_data()
needs_data = pytest.mark.skipif(SHARED is None, reason="../shared/data (real files) not present")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Each test gets its own data/ folder and no mirror unless it sets one."""
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path / "work"))
    monkeypatch.delenv(sources.MIRROR_ENV, raising=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextmanager
def serve(folder: Path):
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def cache_files() -> list[Path]:
    root = config.data_dir("external")
    return [p for p in root.rglob("*") if p.is_file() and p.name != ".gitkeep"]


# ---------------------------------------------------------------------------------------------
# fetch


@needs_data
def test_fetch_every_file_over_http_then_from_cache():
    with serve(SHARED) as url:
        paths = {name: fetch(name, mirror=url) for name, s in REGISTRY.items() if not s.shipped}
    for name, path in paths.items():
        assert path == config.data_dir("external") / REGISTRY[name].relpath
        assert sources.sha256_of(path) == REGISTRY[name].sha256
    # the server is gone: a second fetch must come from the cache
    assert fetch("amazon_beauty", mirror=dead_url()) == paths["amazon_beauty"]
    assert not [p for p in cache_files() if p.name.startswith(".")]  # no temporary file left


@needs_data
def test_fetch_uses_the_environment_variable(monkeypatch):
    with serve(SHARED) as url:
        monkeypatch.setenv(sources.MIRROR_ENV, url + "/")
        path = fetch("rees46_sample")
    assert sources.sha256_of(path) == REGISTRY["rees46_sample"].sha256


@needs_data
def test_fetch_from_a_local_folder_mirror():
    path = fetch("sephora_reviews_100", mirror=SHARED)
    assert sources.sha256_of(path) == REGISTRY["sephora_reviews_100"].sha256
    assert path.is_relative_to(config.workdir())


def test_local_mirror_without_the_file(tmp_path):
    with pytest.raises(DownloadError, match="mirror has no file") as err:
        fetch("amazon_beauty", mirror=tmp_path)
    assert "BEAUTY_DATA_MIRROR" in str(err.value)
    assert cache_files() == []


@needs_data
def test_corrupted_download_is_rejected_and_not_cached(tmp_path):
    bad = tmp_path / "bad_mirror"
    relpath = REGISTRY["amazon_beauty"].relpath
    (bad / relpath).parent.mkdir(parents=True)
    data = bytearray((SHARED / relpath).read_bytes())
    data[100] ^= 1  # one flipped bit
    (bad / relpath).write_bytes(bytes(data))
    with serve(bad) as url, pytest.raises(ChecksumError) as err:
        fetch("amazon_beauty", mirror=url)
    message = str(err.value)
    assert relpath in message and REGISTRY["amazon_beauty"].sha256 in message
    assert sources.sha256_of(bad / relpath) in message and url in message
    assert cache_files() == []


def test_dead_mirror_names_the_options():
    url = dead_url()
    with pytest.raises(DownloadError) as err:
        fetch("amazon_beauty", mirror=url)
    message = str(err.value)
    assert url in message and "mirror=" in message and "BEAUTY_DATA_MIRROR" in message
    assert cache_files() == []


def test_dead_public_host_names_the_options(monkeypatch):
    url = dead_url() + "/Beauty.txt"
    source = sources.Source(REGISTRY["amazon_beauty"].relpath, "0" * 64, (url,))
    monkeypatch.setitem(REGISTRY, "amazon_beauty", source)
    with pytest.raises(DownloadError) as err:
        fetch("amazon_beauty")
    message = str(err.value)
    assert url in message and "mirror=" in message and "BEAUTY_DATA_MIRROR" in message


def test_kaggle_only_file_says_where_to_put_it():
    with pytest.raises(DownloadError) as err:
        fetch("sephora_products")
    message = str(err.value)
    assert "Kaggle" in message and "no anonymous download URL" in message
    assert str(config.data_dir("external") / "sephora" / "product_info.csv") in message


def test_registry_urls():
    assert REGISTRY["amazon_beauty"].urls[0] == (
        "https://raw.githubusercontent.com/RUCAIBox/CIKM2020-S3Rec/"
        "2a81540ae18615d88ef88227b0c066e5b74781e5/data/Beauty.txt")
    assert all(s.urls or s.origin for s in REGISTRY.values())
    with pytest.raises(KeyError, match="known"):
        fetch("nope")


# ---------------------------------------------------------------------------------------------
# Loaders on the real files


@pytest.fixture
def mirrored(monkeypatch):
    if SHARED is None:
        pytest.skip("../shared/data (real files) not present")
    monkeypatch.setenv(sources.MIRROR_ENV, str(SHARED))


def test_load_amazon_beauty(mirrored):
    data = sources.load_amazon_beauty()
    inter = data.interactions
    assert (data.n_users, data.n_items, len(inter)) == (22_363, 12_101, 198_502)
    assert inter.dtypes.astype(str).to_dict() == {
        "user_id": "int64", "item_id": "int64", "position": "int32"}
    assert inter[inter.user_id == 1]["item_id"].tolist() == [1, 2, 3, 4, 5]
    assert inter[inter.user_id == 1]["position"].tolist() == [0, 1, 2, 3, 4]
    assert len(data.item_attributes) == 12_101 and data.item_attributes[4] == [1, 2, 3]
    assert data.sequences()[2] == [6, 7, 8, 9, 10, 4, 11]


def test_load_amazon_beauty_other_file_and_errors(tmp_path):
    path = tmp_path / "seq.txt"
    path.write_text("7 3 1 2\n8 5\n\n")
    data = sources.load_amazon_beauty(path)
    assert data.sequences() == {7: [3, 1, 2], 8: [5]} and data.item_attributes == {}
    path.write_text("7 3 1 2\n8 5 x1\n")
    with pytest.raises(ValueError, match=r"seq.txt, line 2: 'x1' is not a non-negative"):
        sources.load_amazon_beauty(path)
    path.write_text("7 3\n8\n")
    with pytest.raises(ValueError, match="line 2: no item ids"):
        sources.load_amazon_beauty(path)
    path.write_text("7 3\n7 4\n")
    with pytest.raises(ValueError, match="line 2: user 7 already has line 1"):
        sources.load_amazon_beauty(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sources.load_amazon_beauty(tmp_path / "missing.txt")


def test_load_sephora_products(mirrored, tmp_path):
    products = sources.load_sephora_products(fetch("sephora_products"))
    assert products.shape == (8_494, 27)
    assert products["primary_category"].value_counts()["Skincare"] == 2_420
    dtypes = products.dtypes.astype(str)
    assert dtypes["price_usd"] == "float64" and dtypes["reviews"] == "Int64"
    assert dtypes["new"] == "bool" and dtypes["primary_category"] == "category"
    assert dtypes["loves_count"] == "int64" and dtypes["product_name"] == "str"
    # a damaged copy: the error names the file, row, column and value
    broken = tmp_path / "product_info.csv"
    raw = pd.read_csv(SHARED / "sephora" / "product_info.csv", dtype=str)
    raw.loc[5, "loves_count"] = "lots"
    raw.to_csv(broken, index=False)
    with pytest.raises(ValueError, match=r"data row 6\b.*loves_count is 'lots'; expected int64"):
        sources.load_sephora_products(broken)
    raw.loc[5, "loves_count"] = "7"
    raw.loc[2, "product_name"] = ""
    raw.to_csv(broken, index=False)
    with pytest.raises(ValueError, match=r"data row 3\b.*product_name .*may not be empty"):
        sources.load_sephora_products(broken)
    raw.drop(columns="brand_name").to_csv(broken, index=False)
    with pytest.raises(ValidationError, match=r"has no column\(s\) \['brand_name'\]"):
        sources.load_sephora_products(broken)


def test_load_amazon_reviews(mirrored, tmp_path):
    reviews = sources.load_amazon_reviews()
    assert len(reviews) == 5_269
    assert reviews["asin"].nunique() == 85 and reviews["reviewerID"].nunique() == 991
    assert str(reviews["review_time"].dtype) == "datetime64[s, UTC]"
    assert reviews["review_time"].min().year == 2004
    assert set(reviews["overall"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert reviews["reviewText"].isna().sum() == 5
    broken = tmp_path / "reviews.json.gz"
    with gzip.open(broken, "wt") as f:
        f.write('{"overall": 5.0, "asin": "A", "reviewerID": "R", "unixReviewTime": 1400000000}'
                '\n{oops\n')
    with pytest.raises(ValueError, match="reviews.json.gz, line 2: not valid JSON"):
        sources.load_amazon_reviews(broken)


# ---------------------------------------------------------------------------------------------
# REES46


def test_rees46_sample_through_the_full_path(mirrored, tmp_path):
    sample = fetch("rees46_sample")
    out = tmp_path / "events"
    report = rees46.convert_rees46(sample, out)
    assert (report.rows_read, report.rows_kept, report.duplicates_removed) == (100, 92, 8)
    assert report.rows_quarantined == 0 and report.rows_by_month == {"2019-12": 92}
    assert (out / "month=2019-12" / "part-0000.parquet").is_file()
    assert len(pq.read_table(report.quarantine_path)) == 0
    events = rees46.load_rees46_events(out)
    assert len(events) == 92 and list(events.columns) == list(COLUMNS)
    assert events.dtypes.astype(str).to_dict() == {
        "event_time": "datetime64[s, UTC]", "event_type": "category", "product_id": "int64",
        "category_id": "int64", "category_code": "category", "brand": "category",
        "price": "float64", "user_id": "int64", "user_session": "str"}
    assert events["event_time"].min() == pd.Timestamp("2019-12-01", tz="UTC")
    assert not events.duplicated().any()
    # the same file read with pandas, deduplicated, agrees
    expected = pd.read_csv(sample).drop_duplicates()
    assert events["price"].sum() == pytest.approx(expected["price"].sum())
    subset = rees46.load_rees46_events(out, columns=["user_id", "price"])
    assert list(subset.columns) == ["user_id", "price"]
    with pytest.raises(KeyError, match="unknown column"):
        rees46.load_rees46_events(out, columns=["nope"])


HEADER = ",".join(COLUMNS)
R1 = "2019-10-01 00:00:00 UTC,view,1,10,,a,1.00,100,s1"
R2 = "2019-10-31 23:59:59 UTC,cart,2,10,x.y,,2.50,100,s1"
R3 = "2019-11-01 00:00:00 UTC,purchase,2,10,x.y,,2.50,100,s1"
R4 = "2019-11-02 12:00:00 UTC,remove_from_cart,3,11,,b,0.99,101,s2"


def test_convert_multi_file_with_duplicates_across_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "2019-Oct.csv").write_text("\n".join([HEADER, R1, R2, R2, R3]) + "\n")
    with gzip.open(raw / "2019-Nov.csv.gz", "wt") as f:  # R3 again, in the next file
        f.write("\n".join([HEADER, R3, R4, "2019-11-02,view", R1]) + "\n")
    (raw / "notes.txt").write_text("not a csv")
    with pytest.warns(UserWarning, match="notes.txt"):  # named, not read
        report = rees46.convert_rees46(raw, tmp_path / "out")
    assert report.sources == [str(raw / "2019-Oct.csv"), str(raw / "2019-Nov.csv.gz")]
    assert [s["file"] for s in report.files_skipped] == ["notes.txt"]
    assert (report.rows_read, report.rows_kept, report.duplicates_removed,
            report.rows_quarantined) == (8, 4, 3, 1)
    assert report.rows_by_month == {"2019-10": 2, "2019-11": 2}
    quarantine = pq.read_table(report.quarantine_path).to_pandas()
    assert quarantine[["source_file", "line", "reason"]].values.tolist() == [
        [str(raw / "2019-Nov.csv.gz"), 4, REASONS[1]]]
    events = rees46.load_rees46_events(tmp_path / "out")
    assert events["product_id"].tolist() == [1, 2, 2, 3]
    assert "2019-11: 2" in str(report)


def test_convert_generated_data_in_small_blocks(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    written = rees46.write_fake_rees46(raw, 12_000, seed=1, chunk=1_000)
    report = rees46.convert_rees46(raw, tmp_path / "out", chunksize=500)
    report.check()
    assert report.rows_read == written["rows"]
    assert report.rows_quarantined == written["bad"] == 20
    events = rees46.load_rees46_events(tmp_path / "out")
    assert len(events) == report.rows_kept and not events.duplicated().any()
    # an independent count of the distinct good rows with pandas
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False) for f in written["files"]]
    everything = pd.concat(frames, ignore_index=True)
    good = everything[everything["user_session"].str.len() > 0]
    good = good[good["event_type"].isin(["view", "cart", "remove_from_cart", "purchase"])]
    good = good[~good["price"].str.startswith("-") & good["event_time"].str.endswith(" UTC")]
    assert len(good.drop_duplicates()) == report.rows_kept
    assert report.duplicates_removed == len(good) - report.rows_kept > 0
    # each quarantined line really is the damaged line in its file
    quarantine = pq.read_table(report.quarantine_path).to_pandas()
    for source, line in quarantine[["source_file", "line"]].values:
        text = Path(source).read_text().splitlines()[line - 1]
        assert (text + "\n").encode() in rees46._BAD_LINES


def test_convert_checks_every_header_before_writing(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "2019-Oct.csv").write_text(HEADER + "\n" + R1 + "\n")
    (raw / "2019-Nov.csv").write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ValidationError, match=r"2019-Nov.csv: line 1 \(the header\)"):
        rees46.convert_rees46(raw, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


def test_convert_replaces_earlier_output_and_reports_empty_files(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "2019-Oct.csv").write_text(HEADER + "\n" + R1 + "\n" + R2 + "\n")
    rees46.convert_rees46(raw, tmp_path / "out")
    (raw / "2019-Oct.csv").write_text(HEADER + "\n" + R4 + "\n")
    (raw / "2019-Nov.csv").write_bytes(b"")
    report = rees46.convert_rees46(raw, tmp_path / "out")
    assert report.rows_by_month == {"2019-11": 1}
    assert any("empty file" in m for m in report.messages)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["month=2019-11"]
    assert rees46.load_rees46_events(tmp_path / "out")["product_id"].tolist() == [3]


def test_default_folders_and_missing_input():
    with pytest.raises(FileNotFoundError) as err:
        rees46.convert_rees46()
    message = str(err.value)
    assert "Kaggle" in message and str(config.data_dir("raw") / "rees46") in message
    with pytest.raises(FileNotFoundError, match="convert_rees46"):
        rees46.load_rees46_events()
    raw = config.data_dir("raw") / "rees46"
    raw.mkdir()
    (raw / "2019-Oct.csv").write_text(HEADER + "\n" + R1 + "\n")
    report = rees46.convert_rees46()
    assert report.out_dir == config.data_dir("raw") / "rees46_events"  # raw ids stay in data/raw/
    assert report.quarantine_path == config.data_dir("raw") / "rees46_events_quarantine.parquet"
    assert len(rees46.load_rees46_events()) == 1
    shutil.rmtree(raw)
    shutil.rmtree(report.out_dir)
    report.quarantine_path.unlink()
