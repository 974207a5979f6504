"""The `beauty` command: the data preflight, fetch into a mirror folder, the shipped extract.

Every test runs with its own work folder and, unless it sets one, a data mirror that is an
empty folder: nothing is downloaded, whatever the network.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.test_datasets import SHARED, needs_data
from utils import cli
from utils.core import config
from utils.data import rees46, sources
from utils.data.sources import REGISTRY, sha256_of


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path / "work"))
    (tmp_path / "empty-mirror").mkdir()
    monkeypatch.setenv(sources.MIRROR_ENV, str(tmp_path / "empty-mirror"))


# every subcommand, and every subcommand of one (tests/test_docs.py checks the list is complete)
HELP_COMMANDS = [[], ["report"], ["check"], ["fetch"], ["convert-rees46"], ["results"], ["benchmark"],
                 ["benchmark", "data"], ["benchmark", "study"], ["benchmark", "recsys"],
                 ["benchmark", "report"], ["benchmark", "scale"], ["student"], ["encrypt"], ["decrypt"]]


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_every_subcommand_has_help(command):
    result = subprocess.run([sys.executable, "-m", "utils", *command, "--help"],
                            capture_output=True, text=True, cwd=config.PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    assert "usage: beauty" in result.stdout


def test_full_profile_without_amazon_beauty_stops_before_any_notebook(tmp_path, capsys):
    assert cli.main(["report", "--profile", "full"]) == 2
    err = capsys.readouterr().err
    assert "07_recommendation" in err and "amazon_beauty" in err and "MISSING" in err
    where = config.data_dir("external") / REGISTRY["amazon_beauty"].relpath
    assert str(where) in err and "beauty fetch amazon_beauty" in err and "nothing was run" in err
    assert not (config.reports_dir() / "runs.json").exists()


def test_default_profile_needs_nothing_it_cannot_fall_back_from(capsys):
    assert cli.main(["check"]) == 0
    out = capsys.readouterr().out
    assert "sephora_extract           ok" in out
    assert "amazon_all_beauty         missing (optional)" in out
    assert "falls back to the simulator" in out


@needs_data
def test_full_profile_is_ready_with_the_real_files(monkeypatch, capsys):
    monkeypatch.setenv(sources.MIRROR_ENV, str(SHARED))
    assert cli.main(["check", "--profile", "full"]) == 0
    assert "MISSING" not in capsys.readouterr().out


def test_rees46_source_needs_the_kaggle_csvs(tmp_path, capsys):
    profile = tmp_path / "rees46.yaml"
    profile.write_text("notebooks:\n  01_data_collection:\n    source: rees46\n")
    assert cli.main(["check", "--profile", str(profile), "--only", "01"]) == 2
    out = capsys.readouterr().out
    assert "rees46_raw" in out and str(config.data_dir("raw") / "rees46") in out


def test_a_profile_of_the_wrong_type_fails_the_check(tmp_path, capsys):
    profile = tmp_path / "typo.yaml"
    profile.write_text("notebooks:\n  07_recommendation:\n    dataset: 7\n")
    assert cli.main(["check", "--profile", str(profile)]) == 2
    assert "dataset" in capsys.readouterr().err


@needs_data
def test_fetch_fills_a_mirror_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(sources.MIRROR_ENV, str(SHARED))
    out = tmp_path / "workshop-mirror"
    assert cli.main(["fetch", "rees46_sample", "amazon_beauty", "--to", str(out)]) == 0
    for name in ("rees46_sample", "amazon_beauty"):
        assert sha256_of(out / REGISTRY[name].relpath) == REGISTRY[name].sha256
    # the folder now serves as a mirror for a fresh cache
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path / "other-work"))
    assert sources.fetch("amazon_beauty", mirror=out).is_file()


def test_fetch_says_what_failed(capsys):
    assert cli.main(["fetch", "amazon_beauty"]) == 1
    assert "amazon_beauty" in capsys.readouterr().out
    assert cli.main(["fetch", "no_such_data"]) == 2
    assert cli.main(["fetch"]) == 2


def test_the_shipped_sephora_extract_is_verified():
    path = sources.fetch("sephora_extract")
    assert path.is_relative_to(config.PROJECT_ROOT / "data" / "shipped")
    products = sources.load_sephora_products()
    assert len(products) == 8494 and products["product_id"].is_unique


@needs_data
def test_the_extract_is_rebuilt_byte_for_byte_from_the_kaggle_file(tmp_path):
    sha = sources.write_sephora_extract(SHARED / "sephora" / "product_info.csv",
                                         tmp_path / "extract.csv.xz")
    assert sha == REGISTRY["sephora_extract"].sha256


@needs_data
def test_the_extract_holds_the_same_values_as_the_kaggle_file():
    extract = sources.load_sephora_products()
    full = sources.load_sephora_products(SHARED / "sephora" / "product_info.csv")
    assert extract.equals(full[extract.columns])


def test_a_changed_shipped_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / REGISTRY["sephora_extract"].relpath
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"product_id\n")
    monkeypatch.setattr(sources, "SHIPPED_DIR", tmp_path)
    with pytest.raises(sources.ChecksumError, match="git checkout"):
        sources.fetch("sephora_extract")


REES46_HEADER = ("event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
                 "user_session\n")


def test_convert_rees46_prints_its_accounting_as_json(tmp_path, capsys):
    import json

    folder = tmp_path / "raw"
    folder.mkdir()
    good = "2019-12-01 00:00:0{s} UTC,view,5802432,1487580005092295511,,,0.32,562076640,s{s}\n"
    (folder / "2019-Dec.csv").write_text(
        REES46_HEADER + "".join(good.format(s=s) for s in range(4)) + good.format(s=0)
        + "2019-12-01 00:00:09 UTC,click,1,2,,,1.0,3,s\n")
    (folder / "notes.txt").write_text("not data\n")
    out = tmp_path / "parquet"
    assert cli.main(["convert-rees46", str(folder), "--out", str(out), "--json"]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "notes.txt" in captured.err
    result = json.loads(captured.out)
    assert result["rows_read"] == 6 and result["rows_kept"] == 4
    assert result["duplicates_removed"] == 1 and result["rows_quarantined"] == 1
    assert sum(result["quarantined_by_reason"].values()) == 1
    assert result["rows_written"] == {"2019-12": 4}
    assert [f["file"] for f in result["files_skipped"]] == ["notes.txt"]
    assert len(rees46.load_rees46_events(out)) == 4


def test_convert_rees46_fails_when_nothing_is_kept(tmp_path, capsys):
    import json

    source = tmp_path / "2019-Dec.csv"
    source.write_text(REES46_HEADER + "2019-12-01 00:00:09 UTC,click,1,2,,,1.0,3,s\n")
    assert cli.main(["convert-rees46", str(source), "--out", str(tmp_path / "out"), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows_quarantined"] == 1
    assert "quarantined" in captured.err
