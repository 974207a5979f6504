import pytest

from utils import config


def test_every_shipped_profile_loads_and_names_real_notebooks():
    assert {"smoke", "workshop", "full"} <= set(config.available_profiles())
    for name in config.available_profiles():
        assert isinstance(config.load_profile(name), dict)


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(config.ProfileError, match=r"unknown profile 'tiny'.*smoke.*workshop"):
        config.load_profile("tiny")


def test_profile_overrides_knobs_and_reports_the_name(tmp_path):
    profile = tmp_path / "mine.yaml"
    profile.write_text("notebooks:\n  00_rnn_lstm_primer:\n    grad_seq_len: 7\n")
    namespace = {"profile": str(profile), "seed": 0, "grad_seq_len": 100, "np": config.np}
    name, knobs = config.apply_profile("00_rnn_lstm_primer", namespace)
    assert name == str(profile)
    assert namespace["grad_seq_len"] == 7 and knobs["grad_seq_len"] == 7
    assert "np" not in knobs  # modules are not knobs


def test_unknown_knob_is_an_error_naming_file_notebook_and_knobs(tmp_path):
    profile = tmp_path / "typo.yaml"
    profile.write_text("notebooks:\n  00_rnn_lstm_primer:\n    grad_seq_lenn: 7\n")
    with pytest.raises(config.ProfileError, match=r"grad_seq_lenn.*00_rnn_lstm_primer.*grad_seq_len"):
        config.apply_profile("00_rnn_lstm_primer", {"profile": str(profile), "grad_seq_len": 1})


def test_unknown_notebook_section_is_an_error(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("notebooks:\n  99_nothing:\n    seed: 1\n")
    with pytest.raises(ValueError, match=r"99_nothing.*names no notebook"):
        config.load_profile(str(profile))


def test_unknown_top_level_key_is_an_error(tmp_path):
    profile = tmp_path / "bad.yaml"
    profile.write_text("notebook:\n  00_rnn_lstm_primer: {}\n")
    with pytest.raises(ValueError, match="unknown top-level key"):
        config.load_profile(str(profile))


def test_profile_comes_from_parameter_then_environment_then_default(monkeypatch):
    monkeypatch.setenv("BEAUTY_PROFILE", "full")
    assert config.resolve_profile_name("smoke") == "smoke"
    assert config.resolve_profile_name(None) == "full"
    monkeypatch.delenv("BEAUTY_PROFILE")
    assert config.resolve_profile_name(None) == "workshop"


def test_workdir_redirects_data_and_reports(monkeypatch, tmp_path):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    assert config.data_dir("interim") == tmp_path / "data" / "interim"
    assert config.reports_dir("metrics").is_dir()
    with pytest.raises(ValueError, match="unknown data stage"):
        config.data_dir("cooked")


def test_seeding_makes_numpy_repeatable():
    config.seed_everything(3)
    first = config.np.random.rand(3)
    config.seed_everything(3)
    assert (config.np.random.rand(3) == first).all()
