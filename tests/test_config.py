import re

import pytest

from utils.core import config
from utils.report import notebooks


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


@pytest.mark.parametrize("profile", config.available_profiles())
def test_every_shipped_profile_fits_the_parameters_cells(profile):
    for notebook in notebooks.discover():
        overrides = config.load_profile(profile).get(notebook.stem, {})
        knobs = notebooks.notebook_knobs(notebook, profile)  # parses the cell, applies the profile
        assert knobs["profile"] == profile and "seed" in knobs, notebook.stem
        assert {k: knobs[k] for k in overrides} == overrides


def write_profile(tmp_path, text: str):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    return path


def apply_knob(tmp_path, default, value_yaml: str, notebook: str = "05_rnn_vs_lstm"):
    """The value knob ``k`` (``k = default`` in the parameters cell) gets from ``k: value_yaml``."""
    path = write_profile(tmp_path, f"notebooks:\n  {notebook}:\n    k: {value_yaml}\n")
    namespace = {"profile": str(path), "k": default}
    config.apply_profile(notebook, namespace)
    return namespace["k"]


@pytest.mark.parametrize("default, value_yaml, expected", [
    (4, "6", 6),
    (0.5, "2", 2),  # an int is a fine float
    (0.5, "2.5", 2.5),
    (True, "false", False),
    ("simulated", "'1500'", "1500"),
    ([1, 2], "[3]", [3]),
    ([1, 2.5], "[3.5, 4]", [3.5, 4]),  # each element fits one of the default's elements
    ([], "[x, 1]", ["x", 1]),  # an empty default says nothing about its elements
    ([[1, 2]], "[[3]]", [[3]]),
    ({"lstm": 0.005}, "{lstm: 1, gru: x}", {"lstm": 1, "gru": "x"}),  # a new key: any value
    (None, "[1, {a: b}]", [1, {"a": "b"}]),  # a None default takes anything
])
def test_a_value_of_the_defaults_type_is_applied(tmp_path, default, value_yaml, expected):
    value = apply_knob(tmp_path, default, value_yaml)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("default, value_yaml, message", [
    (4, "true", r"k .* to True \(bool\), but it must be an int, .* k = 4: write a whole number"),
    (4, "2.0", r"to 2.0 \(float\), but it must be an int"),
    (4, "", r"to None \(NoneType\), but it must be an int"),  # a knob left without a value
    (0.5, "true", r"to True \(bool\), but it must be a float, .*: write a number, without quotes"),
    (True, "1", r"to 1 \(int\), but it must be a bool, .*: write true or false, without quotes"),
    ("simulated", "1", r"to 1 \(int\), but it must be a str"),
    ("2019-10-01", "2019-11-10", r"datetime.date\(2019, 11, 10\) \(date\), but it must be a str, .*a date"),
    ([10.0, 30.0], "[1, '2']", r"sets k\[1\] for .* to '2' \(str\), but it must be a float, .* k = \[10.0,"),
    ([10.0], "10.0", r"to 10.0 \(float\), but it must be a list"),
    (["lstm"], "lstm", r"to 'lstm' \(str\), but it must be a list"),
    ([[1]], "[[1, x]]", r"sets k\[0\]\[1\] .* to 'x' \(str\), but it must be an int"),
    ({"lstm": 0.005}, "{lstm: fast}", r"sets k\['lstm'\] .* to 'fast' \(str\), but it must be a float"),
    ({"lstm": 0.005}, "[0.1]", r"to \[0.1\] \(list\), but it must be a dict"),
])
def test_a_value_of_another_type_is_an_error_naming_file_notebook_knob_and_type(
        tmp_path, default, value_yaml, message):
    where = re.escape(f"profile {tmp_path / 'mine.yaml'} sets ")
    with pytest.raises(config.ProfileError, match=rf"^{where}k.* for 05_rnn_vs_lstm to "):
        apply_knob(tmp_path, default, value_yaml)
    with pytest.raises(config.ProfileError, match=message):
        apply_knob(tmp_path, default, value_yaml)


def test_quoted_false_is_an_error_not_true(tmp_path):
    path = write_profile(tmp_path, "notebooks:\n  05_rnn_vs_lstm:\n    tensorboard: 'false'\n")
    namespace = {"profile": str(path), "tensorboard": True}
    with pytest.raises(config.ProfileError) as error:
        config.apply_profile("05_rnn_vs_lstm", namespace)
    assert str(error.value) == (
        f"profile {path} sets tensorboard for 05_rnn_vs_lstm to 'false' (str), but it must be a bool, "
        "like the parameters cell's tensorboard = True: write true or false, without quotes.")
    assert namespace["tensorboard"] is True


def test_a_number_in_quotes_is_an_error_naming_the_knob(tmp_path):
    path = write_profile(tmp_path, 'notebooks:\n  01_data_collection:\n    n_users: "1500"\n')
    with pytest.raises(config.ProfileError) as error:
        config.apply_profile("01_data_collection", {"profile": str(path), "n_users": 12000})
    assert str(error.value) == (
        f"profile {path} sets n_users for 01_data_collection to '1500' (str), but it must be an int, "
        "like the parameters cell's n_users = 12000: write a whole number, without quotes.")


def test_a_shipped_profile_is_named_with_its_file():
    namespace = {"profile": "smoke", "epochs": "4", "n_trials": 2, "n_seeds": 2, "batch_size": 512,
                 "tensorboard": True}
    with pytest.raises(config.ProfileError, match=r"^profile 'smoke' \(.*smoke.yaml\) sets epochs for 05"):
        config.apply_profile("05_rnn_vs_lstm", namespace)


def test_nothing_is_applied_unless_every_value_fits(tmp_path):
    path = write_profile(tmp_path, "notebooks:\n  05_rnn_vs_lstm:\n    epochs: 1\n    tensorboard: 'no'\n")
    namespace = {"profile": str(path), "epochs": 4, "tensorboard": True}
    with pytest.raises(config.ProfileError, match="tensorboard"):
        config.apply_profile("05_rnn_vs_lstm", namespace)
    assert namespace == {"profile": str(path), "epochs": 4, "tensorboard": True}


def test_null_is_allowed_only_where_the_default_is_none(tmp_path):
    # notebook 01 reads n_products None as "600 synthetic products, or every Sephora product"
    path = write_profile(tmp_path, "notebooks:\n  01_data_collection:\n    n_products: 300\n")
    namespace = {"profile": str(path), "n_products": None, "n_users": 12000}
    config.apply_profile("01_data_collection", namespace)
    assert namespace["n_products"] == 300
    path.write_text("notebooks:\n  01_data_collection:\n    n_users: null\n")
    with pytest.raises(config.ProfileError, match=r"n_users .* to None \(NoneType\), but it must be an int"):
        config.apply_profile("01_data_collection", {"profile": str(path), "n_users": 12000})


@pytest.mark.parametrize("text, message", [
    ("- 05_rnn_vs_lstm\n- epochs: 3\n", r"mine.yaml: the file holds a list, but a profile is a mapping"),
    ("smoke\n", r"mine.yaml: the file holds a str, but a profile is a mapping"),
    ("notebooks:\n  - 05_rnn_vs_lstm\n", r"mine.yaml: 'notebooks' holds a list, but a profile is a mapping"),
    ("notebooks:\n  05_rnn_vs_lstm: [epochs, 3]\n",
     r"mine.yaml: section '05_rnn_vs_lstm' holds a list \(\['epochs', 3\]\), but it must map knob names"),
])
def test_a_profile_that_is_not_a_mapping_is_an_error(tmp_path, text, message):
    with pytest.raises(config.ProfileError, match=message):
        config.load_profile(str(write_profile(tmp_path, text)))


def test_empty_file_and_empty_section_override_nothing(tmp_path):
    assert config.load_profile(str(write_profile(tmp_path, ""))) == {}
    text = "notebooks:\n  05_rnn_vs_lstm:\n    # epochs: 1\n"
    assert config.load_profile(str(write_profile(tmp_path, text))) == {"05_rnn_vs_lstm": {}}


@pytest.mark.parametrize("text, where, key, first", [
    ("notebooks: {}\nnotebooks: {}\n", "line 2, column 1", "notebooks", 1),
    ("notebooks:\n  05_rnn_vs_lstm: {}\n  05_rnn_vs_lstm: {}\n", "line 3, column 3", "05_rnn_vs_lstm", 2),
    ("notebooks:\n  05_rnn_vs_lstm:\n    epochs: 3\n    n_seeds: 1\n    epochs: 6\n", "line 5, column 5",
     "epochs", 3),
    ("notebooks:\n  11_product_classification:\n    learning_rates: {lstm: 0.1, lstm: 0.2}\n",
     "line 3, column 33", "lstm", 3),
])
def test_a_duplicated_key_is_an_error_at_any_level(tmp_path, text, where, key, first):
    path = write_profile(tmp_path, text)
    message = (f"{path}, {where}: key '{key}' is given twice (first on line {first}); keep one, "
               "since YAML would silently use the last.")
    with pytest.raises(config.ProfileError, match=f"^{re.escape(message)}$"):
        config.load_profile(str(path))


def test_a_merge_key_may_be_overridden_without_counting_as_a_duplicate(tmp_path):
    text = ("notebooks:\n  05_rnn_vs_lstm: &shared {epochs: 1, n_seeds: 1}\n"
            "  06_evaluation: {<<: *shared, epochs: 2}\n")
    profile = config.load_profile(str(write_profile(tmp_path, text)))
    assert profile["06_evaluation"] == {"epochs": 2, "n_seeds": 1}


@pytest.mark.parametrize("text, where", [
    ("notebooks:\n  05_rnn_vs_lstm:\n    epochs: 3\n   n_seeds: 1\n", "line 4, column 4"),
    ("notebooks:\n  11_product_classification:\n    C_grid: [10.0, 30.0\n", "line 4, column 1"),
    ("notebooks:\n  05_rnn_vs_lstm:\n    epochs: 3: 4\n", "line 3, column 14"),
])
def test_a_yaml_syntax_error_names_the_file_line_and_column(tmp_path, text, where):
    path = write_profile(tmp_path, text)
    start = re.escape(f"{path}, {where}: ")
    with pytest.raises(config.ProfileError, match=rf"^{start}.*check the indentation"):
        config.load_profile(str(path))


def test_apply_profile_reports_the_knobs_it_changed(tmp_path):
    path = write_profile(tmp_path, "notebooks:\n  05_rnn_vs_lstm:\n    epochs: 1\n    n_seeds: 2\n")
    applied = config.apply_profile("05_rnn_vs_lstm", {"profile": str(path), "epochs": 4, "n_seeds": 2})
    assert applied.overrides == {"epochs": (4, 1)}  # n_seeds keeps its value: no override
    profile, knobs = applied
    assert profile == str(path) and knobs["epochs"] == 1
