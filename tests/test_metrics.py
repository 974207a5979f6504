import json
import math

import numpy as np
import pytest

from utils.core import config, files, recorder


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    profile = tmp_path / "tiny.yaml"
    profile.write_text("notebooks:\n  00_rnn_lstm_primer:\n    grad_seq_len: 40\n")
    namespace = {"profile": str(profile), "seed": 5, "grad_seq_len": 100, "source": "simulated"}
    return recorder.start_run("00_rnn_lstm_primer", namespace)


def test_record_writes_value_with_its_context(run):
    recorder.record("auc", np.float32(0.75))
    recorder.record("table", {"lstm": {"f1": np.float64(0.5), "ci": np.array([0.4, 0.6])}})
    payload = recorder.read_metrics("00_rnn_lstm_primer")
    assert payload["metrics"]["auc"] == pytest.approx(0.75)
    assert payload["metrics"]["table"] == {"lstm": {"f1": 0.5, "ci": [0.4, 0.6]}}
    assert payload["profile"].endswith("tiny.yaml") and payload["seed"] == 5
    assert payload["data_source"] == "simulated"
    assert payload["parameters"]["grad_seq_len"] == 40  # the profile's value, not the default
    assert payload["packages"]["numpy"] == np.__version__
    assert payload["git_commit"]
    assert payload["wall_time_s"] >= 0


def test_the_commit_is_the_one_the_run_started_on(monkeypatch, tmp_path):
    """A commit made while a long notebook runs does not relabel the code that ran."""
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    monkeypatch.setattr(recorder, "git_commit", lambda: "started-here")
    recorder.start_run("00_rnn_lstm_primer", {"profile": "workshop", "seed": 0})
    monkeypatch.setattr(recorder, "git_commit", lambda: "committed-later-dirty")
    recorder.record("auc", 0.75)
    assert recorder.read_metrics("00_rnn_lstm_primer")["git_commit"] == "started-here"


def test_writes_leave_no_temporary_files(run):
    for i in range(5):
        recorder.record(f"m{i}", i)
    files = sorted(p.name for p in config.reports_dir("metrics").iterdir())
    assert files == ["00_rnn_lstm_primer.json"]


def test_non_finite_values_become_null_and_json_stays_valid(run):
    recorder.record("undefined", math.nan)
    text = (config.reports_dir("metrics") / "00_rnn_lstm_primer.json").read_text()
    assert json.loads(text)["metrics"]["undefined"] is None


def test_a_failed_write_keeps_the_previous_file(run, monkeypatch):
    recorder.record("kept", 1)
    with pytest.raises(TypeError, match="cannot record"):
        recorder.record("bad", object())
    assert recorder.read_metrics("00_rnn_lstm_primer")["metrics"] == {"kept": 1}


def test_atomic_writer_cleans_up_when_serialisation_fails(tmp_path):
    target = tmp_path / "m.json"
    target.write_text('{"old": 1}')
    with pytest.raises(ValueError):
        files.write_json_atomic(target, {"x": math.inf})
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_a_new_run_starts_from_an_empty_file(run):
    recorder.record("old", 1)
    recorder.start_run("00_rnn_lstm_primer", {"profile": "workshop", "seed": 0})
    assert not (config.reports_dir("metrics") / "00_rnn_lstm_primer.json").exists()


def test_record_without_a_run_says_what_to_do(monkeypatch):
    monkeypatch.setattr(recorder, "_active", None)
    with pytest.raises(RuntimeError, match="start_run"):
        recorder.record("x", 1)


def test_start_run_prints_each_knob_the_profile_changed(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    profile = tmp_path / "mine.yaml"
    profile.write_text("notebooks:\n  01_data_collection:\n    n_users: 1500\n    n_days: 150\n"
                       "    start: '2019-11-10'\n")
    namespace = {"profile": str(profile), "seed": 0, "n_users": 12000, "n_days": 150, "start": "2019-10-01"}
    recorder.start_run("01_data_collection", namespace)
    assert capsys.readouterr().out == (
        f"profile {profile} overrides: n_users 12000 -> 1500, start '2019-10-01' -> '2019-11-10'\n")


def test_start_run_prints_nothing_when_the_profile_changes_nothing(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    recorder.start_run("00_rnn_lstm_primer", {"profile": "workshop", "seed": 0, "grad_seq_len": 100})
    assert capsys.readouterr().out == ""


def test_start_run_refuses_a_value_of_the_wrong_type(monkeypatch, tmp_path):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    profile = tmp_path / "mine.yaml"
    profile.write_text("notebooks:\n  05_rnn_vs_lstm:\n    tensorboard: 'false'\n")
    with pytest.raises(config.ProfileError, match="tensorboard .* must be a bool"):
        recorder.start_run("05_rnn_vs_lstm", {"profile": str(profile), "seed": 0, "tensorboard": True})
