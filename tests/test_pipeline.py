import json

import pytest

from tests.helpers import write_notebook
from utils import cli
from utils.core import config
from utils.report import notebooks


def test_discovery_orders_by_number_and_skips_templates_and_strays(tmp_path):
    for name in ["10_late", "02_b", "01_a", "_template", "notes", "1_short", "03_c.ipynb.bak"]:
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in notebooks.discover(tmp_path)] == ["01_a", "02_b", "10_late"]


def test_discovery_rejects_two_notebooks_with_one_number(tmp_path):
    for name in ["03_one", "03_two"]:
        (tmp_path / f"{name}.ipynb").write_text("{}")
    with pytest.raises(ValueError, match=r"share the number.*03"):
        notebooks.discover(tmp_path)


def test_the_project_notebooks_are_discovered():
    stems = [p.stem for p in notebooks.discover()]
    assert stems[0] == "00_rnn_lstm_primer"
    assert stems == sorted(stems)


@pytest.mark.parametrize(("only", "start", "expected"), [
    ("03-05", None, ["03_c", "04_d", "05_e"]),
    ("1,4", None, ["01_a", "04_d"]),
    ("02", None, ["02_b"]),
    (None, "04", ["04_d", "05_e"]),
    ("01-04", "03", ["03_c", "04_d"]),
])
def test_selection(tmp_path, only, start, expected):
    paths = [tmp_path / f"{n}.ipynb" for n in ["01_a", "02_b", "03_c", "04_d", "05_e"]]
    assert [p.stem for p in notebooks.select(paths, only, start)] == expected


@pytest.mark.parametrize(("only", "start", "message"), [
    ("3 to 5", None, "expected numbers"), (None, "four", "expected a notebook number"),
    ("09", None, "no notebook matches"),
])
def test_bad_selection_is_explained(tmp_path, only, start, message):
    with pytest.raises(ValueError, match=message):
        notebooks.select([tmp_path / "01_a.ipynb"], only, start)


@pytest.mark.slow
def test_a_failing_notebook_stops_the_run_and_names_notebook_and_cell(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "notebooks"
    write_notebook(folder / "01_fine.ipynb", "x = 1")
    write_notebook(folder / "02_broken.ipynb", "y = 2", "ratio = 1 / 0  # deliberate")
    write_notebook(folder / "03_never.ipynb", "z = 3")
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", folder)
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path / "work"))
    profile = tmp_path / "empty.yaml"
    profile.write_text("notebooks: {}\n")

    exit_code = cli.main(["report", "--profile", str(profile)])

    err = capsys.readouterr().err
    assert exit_code == 1
    assert "02_broken.ipynb" in err and "ZeroDivisionError" in err
    assert "cell [4]" in err and "ratio = 1 / 0" in err
    executed = tmp_path / "work" / "reports" / "executed"
    assert str(executed / "02_broken.ipynb") in err
    assert (executed / "01_fine.ipynb").is_file() and not (executed / "03_never.ipynb").exists()
    runs = json.loads((tmp_path / "work" / "reports" / "runs.json").read_text())["notebooks"]
    assert runs["01_fine"]["status"] == "ok" and runs["02_broken"]["status"] == "failed"
    index = (tmp_path / "work" / "reports" / "index.html").read_text()
    assert "failed" in index and "03_never.ipynb: not run yet" in index


def test_unknown_profile_fails_before_running_anything(capsys):
    assert cli.main(["report", "--profile", "nonexistent"]) == 2
    assert "unknown profile 'nonexistent'" in capsys.readouterr().err
