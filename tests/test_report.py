"""The smoke pipeline end to end, and the HTML report it builds."""

import html
import json
import os
import shutil
import subprocess
import sys

import pytest

from utils.core import config
from utils.core.recorder import read_metrics
from utils.report import notebooks, page


def test_flatten_turns_nested_metrics_into_dotted_rows():
    rows = page.flatten({"auc": 0.8, "lstm": {"f1": 0.5, "ci": [0.4, 0.6]}})
    assert rows == [("auc", 0.8), ("lstm.f1", 0.5), ("lstm.ci", [0.4, 0.6])]
    assert page.format_value(0.123456) == "0.1235" and page.format_value(None) == ""


def test_models_with_the_same_metrics_are_compared_side_by_side():
    recorded = {"auc": 0.8, "rnn": {"auc": 0.81, "f1": 0.5}, "lstm": {"auc": 0.83, "f1": 0.4},
                "ceiling": {"value": 0.9, "ci_low": 0.85, "ci_high": 0.95},
                "mase": {"lstm": {"cat": 0.9}, "naive": {"cat": 1.0}, "n": 3}, "deep": {"a": {"b": [1]}}}
    tables = page.comparisons(recorded)
    assert tables == [("", ["auc", "f1"], {"rnn": recorded["rnn"], "lstm": recorded["lstm"]}),
                      ("mase", ["cat"], {"lstm": {"cat": 0.9}, "naive": {"cat": 1.0}})]
    html_table = page.comparison_table(*tables[0])
    assert "<th>rnn</th><td class=\"num\">0.81</td><td class=\"num\">0.5</td>" in html_table
    assert page.comparison_table(*tables[1]).startswith("<table class=\"comparison\"><tr><th>mase</th>")
    interval = {"value": 0.87, "ci_low": 0.85, "ci_high": 0.89}
    assert page.format_cell(interval) == "0.87 [0.85, 0.89]"
    assert page.comparisons({"rnn": {"auc": interval}}) == [("", ["auc"], {"rnn": {"auc": interval}})]


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """Run the whole pipeline once on the smoke profile in a fresh work folder, as a newcomer
    would: no data mirror (and, in CI, no network beyond the package registries)."""
    workdir = tmp_path_factory.mktemp("smoke-run")
    env = {**os.environ, "BEAUTY_WORKDIR": str(workdir)}
    env.pop("BEAUTY_DATA_MIRROR", None)
    result = subprocess.run([sys.executable, "-m", "utils", "report", "--profile", "smoke"],
                            cwd=config.PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_index_links_every_notebook_and_shows_its_metrics(smoke_report, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(smoke_report))
    reports = smoke_report / "reports"
    index = (reports / "index.html").read_text(encoding="utf-8")
    for notebook in notebooks.discover():
        assert f'href="executed/{notebook.stem}.html"' in index, notebook.stem
        assert (reports / "executed" / f"{notebook.stem}.html").is_file()
        recorded = read_metrics(notebook.stem)
        assert recorded["profile"] == "smoke" and recorded["metrics"], notebook.stem
        for name, _ in page.flatten(recorded["metrics"]):
            assert f"<td>{html.escape(name)}</td>" in index, (notebook.stem, name)
        for figure in (reports / "figures" / notebook.stem).glob("*.png"):
            assert f'src="figures/{notebook.stem}/{figure.name}"' in index
    runs = json.loads((reports / "runs.json").read_text())["notebooks"]
    assert all(run["status"] == "ok" for run in runs.values())
    # without the mirror (and offline) 11 labels the simulator's reviews, and the report says so
    classification = read_metrics("11_product_classification")
    if classification["metrics"]["review_texts"]["source"] == "simulated":
        assert classification["fallbacks"]
        assert f'class="fallback">Fallback: {html.escape(classification["fallbacks"][0])}' in index


@pytest.mark.slow
def test_primer_numpy_matches_keras(smoke_report, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(smoke_report))
    recorded = read_metrics("00_rnn_lstm_primer")["metrics"]
    assert recorded["rnn_max_abs_diff"] < 1e-5
    assert recorded["lstm_max_abs_diff"] < 1e-5
    far = recorded["relative_gradient_steps_back"]
    # the open forget gate keeps the gradient; the default-initialised RNN loses it
    assert far["LSTM, forget bias 3"] > 100 * far["RNN, W_hh scale 1.0"]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_index_renders_in_headless_chromium(smoke_report, tmp_path):
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         (smoke_report / "reports" / "index.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert 'class="metrics"' in dom and "00_rnn_lstm_primer" in dom
