"""Encryption at rest through the loaders and `beauty encrypt` / `beauty decrypt`: an encrypted
file reads back as the same data, and a changed, cut or wrongly keyed one is a DecryptionError
naming it, whichever loader reads it."""

from __future__ import annotations

import gzip
import hashlib

import pandas as pd
import pytest

from utils import cli
from utils.core import config, crypto
from utils.data import collect, rees46, sources
from utils.data.schema import COLUMNS

OTHER_KEY = bytes(range(32))


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """A work folder and a key folder of its own, both outside tmp_path (which tests fill)."""
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path_factory.mktemp("work")))
    monkeypatch.setenv("BEAUTY_KEY_DIR", str(tmp_path_factory.mktemp("keys")))
    monkeypatch.delenv("BEAUTY_ENCRYPTION_KEY", raising=False)


def write_small_interim() -> dict:
    times = pd.to_datetime(["2019-12-01 10:00:00", "2019-12-02 11:30:00"], utc=True)
    tables = {"events": pd.DataFrame({"user_id": [7, 9], "event_type": ["view", "cart"],
                                      "event_time": times.astype("datetime64[s, UTC]")}),
              "products": pd.DataFrame({"product_id": [1, 2], "price": [3.5, 12.0]})}
    collect.write_interim(tables, {}, "simulated", {"seed": 3})
    return {name: collect.load_interim(name) for name in tables}


def damage(path, how: str, monkeypatch) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip a byte":
        data[len(data) // 2] ^= 1
    elif how == "cut the end":
        data = data[:-5]
    else:  # another key in the environment than the one the file was encrypted with
        monkeypatch.setenv("BEAUTY_ENCRYPTION_KEY", OTHER_KEY.hex())
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------------------------
# Interim and processed tables


def test_tables_encrypted_with_the_command_load_as_the_same_frames(capsys):
    before = write_small_interim()
    interim = config.data_dir("interim")
    assert cli.main(["encrypt", str(interim)]) == 0
    out = capsys.readouterr().out
    assert "encrypted" in out and "3 file(s) encrypted" in out and "back it up" in out
    assert sorted(p.name for p in interim.iterdir()) == [
        "events.parquet.enc", "products.parquet.enc", "source.json.enc"]
    for name, frame in before.items():
        pd.testing.assert_frame_equal(collect.load_interim(name), frame)
    pd.testing.assert_frame_equal(config.read_table("interim", "products", made_by="01"),
                                  before["products"])
    assert collect.read_source_info() == {"source": "simulated", "tables": ["events", "products"],
                                          "params": {"seed": 3}}


def test_a_processed_table_is_read_encrypted_too():
    frame = pd.DataFrame({"session": ["a", "b"], "label": [0, 1]})
    path = config.data_dir("processed") / "decision_points.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path)
    crypto.encrypt_file(path, crypto.secret_key("encryption"), remove_plain=True)
    pd.testing.assert_frame_equal(config.read_table("processed", "decision_points", "04"), frame)


@pytest.mark.parametrize("how", ["flip a byte", "cut the end", "wrong key"])
def test_a_damaged_or_wrongly_keyed_table_fails_in_the_loader_naming_it(how, monkeypatch):
    write_small_interim()
    assert cli.main(["encrypt", str(config.data_dir("interim"))]) == 0
    interim = config.data_dir("interim")
    for name in ("events.parquet.enc", "products.parquet.enc", "source.json.enc"):
        damage(interim / name, how, monkeypatch)
    with pytest.raises(crypto.DecryptionError, match=r"events\.parquet\.enc cannot be decrypted"):
        collect.load_interim("events")
    with pytest.raises(crypto.DecryptionError, match=r"products\.parquet\.enc cannot be decrypted"):
        config.read_table("interim", "products", made_by="01")
    with pytest.raises(crypto.DecryptionError, match=r"source\.json\.enc cannot be decrypted"):
        collect.read_source_info()


def test_without_its_key_an_encrypted_table_is_a_clear_error_and_no_new_key_is_made():
    write_small_interim()
    assert cli.main(["encrypt", str(config.data_dir("interim"))]) == 0
    key_file = crypto.key_dir() / "encryption.key"
    key_file.unlink()
    with pytest.raises(crypto.DecryptionError,
                       match=r"events\.parquet\.enc is encrypted, but there is no encryption key.*backup"):
        collect.load_interim("events")
    assert not key_file.exists()


def test_a_missing_table_still_names_the_file_and_the_step_that_writes_it():
    write_small_interim()
    with pytest.raises(FileNotFoundError, match=r"users\.parquet is missing: .* writes it"):
        collect.load_interim("users")
    with pytest.raises(FileNotFoundError, match=r"predictions\.parquet is missing: run notebook 05"):
        config.read_table("processed", "predictions", made_by="05")
    with pytest.raises(FileNotFoundError, match=r"study\.json is missing: run notebook 05"):
        config.read_json("processed", "study", made_by="05")
    (config.data_dir("processed") / "study.json").write_text('{"state_dir": "study/x"}')
    assert config.read_json("processed", "study", made_by="05") == {"state_dir": "study/x"}


def test_an_optional_table_is_found_encrypted_and_a_damaged_one_is_never_skipped(monkeypatch):
    # the notebooks' check for a table only some sources have (reviews, users, truth, ...)
    write_small_interim()
    assert cli.main(["encrypt", str(config.data_dir("interim"))]) == 0
    assert collect.has_interim("products") and not collect.has_interim("users")
    damage(collect.interim_path("products").with_name("products.parquet.enc"), "flip a byte", monkeypatch)
    assert collect.has_interim("products")  # still there: the loader, not the check, says it is damaged
    with pytest.raises(crypto.DecryptionError, match=r"products\.parquet\.enc cannot be decrypted"):
        collect.load_interim("products")


def test_a_new_collection_removes_the_encrypted_tables_of_the_last_one():
    write_small_interim()
    assert cli.main(["encrypt", str(config.data_dir("interim"))]) == 0
    collect.write_interim({"events": pd.DataFrame({"user_id": [1]})}, {}, "simulated", {})
    assert sorted(p.name for p in config.data_dir("interim").iterdir()) == ["events.parquet",
                                                                           "source.json"]
    with pytest.raises(FileNotFoundError, match="products.parquet is missing"):
        collect.load_interim("products")


def test_the_plain_file_wins_when_both_are_there():
    write_small_interim()
    assert cli.main(["encrypt", "--keep-plain", str(config.data_dir("interim"))]) == 0
    path = collect.interim_path("events")
    assert path.is_file() and crypto.plain_or_encrypted(path) == path
    path.unlink()
    assert crypto.plain_or_encrypted(path) == path.with_name("events.parquet.enc")
    path.with_name("events.parquet.enc").unlink()
    assert crypto.plain_or_encrypted(path) is None
    with pytest.raises(FileNotFoundError, match=r"events\.parquet does not exist, nor does .*\.enc"):
        crypto.for_reading(path)


# ---------------------------------------------------------------------------------------------
# The commands


def test_encrypting_twice_skips_what_is_encrypted_and_never_encrypts_it_again(tmp_path, capsys):
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("a,b\n1,2\n")
    (folder / "sub" / "b.json").write_text("{}")
    (folder / ".gitkeep").write_text("")
    assert cli.main(["encrypt", str(folder)]) == 0
    assert "2 file(s) encrypted" in capsys.readouterr().out
    sealed = (folder / "a.csv.enc").read_bytes()
    assert cli.main(["encrypt", str(folder), str(folder / "a.csv.enc")]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "a.csv.enc: already encrypted" in out and "0 file(s) encrypted" in out
    assert (folder / "a.csv.enc").read_bytes() == sealed and not (folder / "a.csv.enc.enc").exists()
    assert (folder / ".gitkeep").is_file()  # hidden files in a folder are left alone
    # encrypted content under a plain name: refused too, with the fix
    (folder / "a.csv.enc").rename(folder / "renamed.csv")
    assert cli.main(["encrypt", str(folder / "renamed.csv")]) == 0
    assert "already encrypted (rename it to renamed.csv.enc)" in capsys.readouterr().out
    assert not (folder / "renamed.csv.enc").exists()


def test_decrypt_gives_back_the_same_bytes(tmp_path, capsys):
    plain = tmp_path / "events.csv"
    plain.write_bytes(b"event_time,user_id\n" * 50)
    content = plain.read_bytes()
    assert cli.main(["encrypt", str(plain)]) == 0
    assert not plain.exists() and content not in (tmp_path / "events.csv.enc").read_bytes()
    assert cli.main(["decrypt", str(tmp_path)]) == 0
    assert "decrypted" in capsys.readouterr().out
    assert plain.read_bytes() == content and not (tmp_path / "events.csv.enc").exists()
    assert cli.main(["decrypt", str(plain)]) == 0
    assert "not encrypted" in capsys.readouterr().out


def test_decrypt_leaves_a_damaged_file_as_it_is_and_says_so(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "good.csv").write_text("a\n1\n")
    (folder / "bad.csv").write_text("a\n2\n")
    assert cli.main(["encrypt", str(folder)]) == 0
    damage(folder / "bad.csv.enc", "flip a byte", monkeypatch)
    assert cli.main(["decrypt", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "bad.csv.enc cannot be decrypted" in out and "1 file(s) decrypted" in out
    assert (folder / "bad.csv.enc").is_file() and not (folder / "bad.csv").exists()
    assert (folder / "good.csv").read_text() == "a\n1\n"


def test_the_key_file_itself_is_never_encrypted(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BEAUTY_KEY_DIR", str(tmp_path / "keys"))
    (tmp_path / "a.csv").write_text("a\n")
    assert cli.main(["encrypt", str(tmp_path)]) == 0  # the folder holds the key folder
    assert "encryption.key: a key file" in capsys.readouterr().out
    assert (tmp_path / "keys" / "encryption.key").is_file() and (tmp_path / "a.csv.enc").is_file()


def test_decrypt_skips_a_file_whose_plain_copy_is_beside_it(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("new\n")
    assert cli.main(["encrypt", "--keep-plain", str(tmp_path / "a.csv")]) == 0
    assert "plain file kept" in capsys.readouterr().out
    (tmp_path / "a.csv").write_text("newer\n")
    assert cli.main(["decrypt", str(tmp_path)]) == 0
    assert "a.csv is beside it" in capsys.readouterr().out
    assert (tmp_path / "a.csv").read_text() == "newer\n"


def test_decrypt_without_the_key_stops_before_anything(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("a\n")
    assert cli.main(["encrypt", str(tmp_path / "data")]) == 0
    key_file = crypto.key_dir() / "encryption.key"
    key_file.unlink()
    assert cli.main(["decrypt", str(tmp_path / "data")]) == 2
    assert "no encryption key" in capsys.readouterr().err
    assert (tmp_path / "data" / "a.csv.enc").is_file() and not key_file.exists()


def test_a_missing_path_changes_nothing(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("a\n")
    assert cli.main(["encrypt", str(tmp_path / "a.csv"), str(tmp_path / "nope")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert (tmp_path / "a.csv").is_file() and not (tmp_path / "a.csv.enc").exists()


# ---------------------------------------------------------------------------------------------
# REES46 CSVs and the downloaded files


def rees46_csv(n: int = 30) -> bytes:
    rows = [f"2019-12-{1 + i % 28:02d} 10:00:{i % 60:02d} UTC,view,{100 + i},10,,brand,1.50,{i % 7},s{i % 5}"
            for i in range(n)]
    rows.append(rows[0])  # a duplicate, removed the same way from both
    return ("\n".join([",".join(COLUMNS), *rows]) + "\n").encode()


def test_an_encrypted_rees46_csv_converts_to_the_same_events(tmp_path, capsys):
    plain, encrypted = tmp_path / "plain", tmp_path / "encrypted"
    for folder in (plain, encrypted):
        folder.mkdir()
        (folder / "2019-Dec.csv.gz").write_bytes(gzip.compress(rees46_csv()))
    assert cli.main(["encrypt", str(encrypted)]) == 0
    assert rees46.rees46_files(encrypted) == [encrypted / "2019-Dec.csv.gz.enc"]
    expected = rees46.convert_rees46(plain, tmp_path / "out-plain")
    report = rees46.convert_rees46(encrypted, tmp_path / "out-encrypted")
    assert (report.rows_kept, report.duplicates_removed) == (expected.rows_kept, 1)
    events = rees46.load_rees46_events(tmp_path / "out-encrypted")
    pd.testing.assert_frame_equal(events, rees46.load_rees46_events(tmp_path / "out-plain"))
    # the converted parts, encrypted in place, read back the same
    assert cli.main(["encrypt", str(tmp_path / "out-encrypted")]) == 0
    assert not list((tmp_path / "out-encrypted").glob("month=*/*.parquet"))
    pd.testing.assert_frame_equal(rees46.load_rees46_events(tmp_path / "out-encrypted"), events)


def test_an_encrypted_copy_beside_its_plain_csv_is_not_read_twice(tmp_path):
    (tmp_path / "2019-Dec.csv").write_bytes(rees46_csv())
    assert cli.main(["encrypt", "--keep-plain", str(tmp_path / "2019-Dec.csv")]) == 0
    with pytest.warns(UserWarning, match=r"2019-Dec\.csv\.enc \(encrypted copy of 2019-Dec\.csv"):
        report = rees46.convert_rees46(tmp_path, tmp_path / "out")
    assert report.sources == [str(tmp_path / "2019-Dec.csv")] and report.duplicates_removed == 1


@pytest.mark.parametrize("how", ["flip a byte", "cut the end", "wrong key"])
def test_a_damaged_encrypted_rees46_csv_fails_naming_it(tmp_path, how, monkeypatch):
    (tmp_path / "2019-Dec.csv").write_bytes(rees46_csv())
    assert cli.main(["encrypt", str(tmp_path / "2019-Dec.csv")]) == 0
    damage(tmp_path / "2019-Dec.csv.enc", how, monkeypatch)
    with pytest.raises(crypto.DecryptionError, match=r"2019-Dec\.csv\.enc cannot be decrypted"):
        rees46.convert_rees46(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_rees46_sample_may_be_stored_encrypted(tmp_path, monkeypatch):
    sample = tmp_path / "cosmeticsshop-sample.csv"
    sample.write_bytes(rees46_csv())
    sealed = crypto.encrypt_file(sample, crypto.secret_key("encryption"), remove_plain=True)
    monkeypatch.setattr(sources, "fetch", lambda name: sealed)
    tables, _, info = collect.collect("rees46_sample")
    assert len(tables["events"]) == 30 and info["files"] == ["2019-Dec-sample.csv.enc"]


def test_a_downloaded_file_stored_encrypted_is_verified_and_loaded(monkeypatch):
    text = b"1 10 11 12\n2 11 13\n"
    relpath = "amazon_beauty/Beauty.txt"
    monkeypatch.setitem(sources.REGISTRY, "amazon_beauty",
                        sources.Source(relpath, hashlib.sha256(text).hexdigest()))
    cached = config.data_dir("external") / relpath
    cached.parent.mkdir(parents=True)
    cached.write_bytes(text)
    expected = sources.load_amazon_beauty(cached)
    crypto.encrypt_file(cached, crypto.secret_key("encryption"), remove_plain=True)
    assert sources.fetch("amazon_beauty") == cached.with_name("Beauty.txt.enc")
    loaded = sources.load_amazon_beauty(cached)  # the plain name finds the encrypted file
    pd.testing.assert_frame_equal(loaded.interactions, expected.interactions)


def test_a_compressed_encrypted_review_file_is_read_and_a_damaged_one_named(tmp_path, monkeypatch):
    review = (b'{"overall": 5.0, "asin": "B1", "reviewerID": "R1", "unixReviewTime": 1546300800, '
              b'"reviewText": "nice"}\n')
    path = tmp_path / "All_Beauty_5.json.gz"
    path.write_bytes(gzip.compress(review))
    expected = sources.load_amazon_reviews(path)
    sealed = crypto.encrypt_file(path, crypto.secret_key("encryption"), remove_plain=True)
    pd.testing.assert_frame_equal(sources.load_amazon_reviews(sealed), expected)
    damage(sealed, "cut the end", monkeypatch)
    with pytest.raises(crypto.DecryptionError, match=r"All_Beauty_5\.json\.gz\.enc cannot be decrypted"):
        sources.load_amazon_reviews(sealed)
