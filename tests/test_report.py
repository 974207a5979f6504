"""The HTML report: its tables from recorded values (fast), and the smoke pipeline end to end
with the page it builds, checked in a real browser (slow)."""

import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from markupsafe import escape

from utils.core import config
from utils.core.recorder import read_metrics
from utils.report import notebooks, page


def test_flatten_turns_nested_metrics_into_dotted_rows():
    rows = page.flatten({"auc": 0.8, "lstm": {"f1": 0.5, "ci": [0.4, 0.6]}})
    assert rows == [("auc", 0.8), ("lstm.f1", 0.5), ("lstm.ci", [0.4, 0.6])]
    assert page.format_value(0.123456) == "0.1235" and page.format_value(None) == ""


def test_cells_show_intervals_and_spreads_over_seeds():
    assert page.format_cell({"value": 0.87, "ci_low": 0.8531, "ci_high": 0.8917}) == "0.870 [0.853, 0.892]"
    assert page.format_cell({"mean_over_seeds": 0.8123, "std_over_seeds": 0.0104}) == "0.812 ± 0.010"
    both = {"value": 0.87, "ci_low": 0.85, "ci_high": 0.89, "mean_over_seeds": 0.86, "std_over_seeds": 0.01}
    assert page.format_cell(both) == "0.870 [0.850, 0.890]\nseeds: 0.860 ± 0.010"
    assert page.format_cell(12) == "12" and page.format_cell(None) == "n/a"
    assert page.format_cell(2.5e-5) == "2.5e-05"


def test_each_shape_of_headline_becomes_a_table():
    interval = {"value": 0.87, "ci_low": 0.85, "ci_high": 0.89}
    metrics = {"auc": 0.8, "ceiling": interval,
               "paired": {"difference": 0.02, "ci_low": -0.01, "ci_high": 0.05},
               "rnn": {"auc": 0.7, "f1": 0.5}, "lstm": {"auc": interval, "f1": 0.6},
               "models": {"rnn": {"auc": interval, "f1": 0.5}, "lstm": {"auc": 0.83, "loss": 0.4}, "n": 300}}
    names = ["auc", "ceiling", "paired", "rnn", "lstm", "models", "never recorded"]
    single, paired, rows, table = page.headline_tables(metrics, names)
    # consecutive single values share one table, a row each; so do rows with the same columns
    assert single == {"caption": None, "columns": ["value"], "notes": [],
                      "rows": [("auc", ["0.800"]), ("ceiling", ["0.870 [0.850, 0.890]"])]}
    assert paired["columns"] == ["difference", "ci_low", "ci_high"] and paired["rows"] == [
        ("paired", ["0.020", "-0.010", "0.050"])]
    assert rows["columns"] == ["auc", "f1"] and rows["rows"] == [
        ("rnn", ["0.700", "0.500"]), ("lstm", ["0.870 [0.850, 0.890]", "0.600"])]
    # a dict of dicts: a row per model, a column per metric; plain entries become notes
    assert table["caption"] == "models" and table["columns"] == ["auc", "f1", "loss"]
    assert table["rows"] == [("rnn", ["0.870 [0.850, 0.890]", "0.500", ""]), ("lstm", ["0.830", "", "0.400"])]
    assert table["notes"] == [("n", "300")]


def tiny_png(width: int = 4, height: int = 3) -> bytes:
    """A valid grey PNG, so the fake report holds real images."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def fake_metrics(notebook: str, metrics: dict, headlines=(), key_figure=None, fallbacks=()) -> dict:
    return {"notebook": notebook, "metrics": metrics, "profile": "smoke", "seed": 0,
            "data_source": "simulated", "fallbacks": list(fallbacks), "headlines": list(headlines),
            "key_figure": key_figure, "parameters": {"epochs": 2, "source": "simulated"},
            "git_commit": "abc123", "packages": {}, "started_at": "2026-01-01T00:00:00+00:00",
            "wall_time_s": 1.5}


@pytest.fixture
def fake_report(tmp_path, monkeypatch):
    """A work folder with two notebooks' results: one marked its headlines and key figure (and
    records names that need escaping), the other only recorded raw values."""
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    monkeypatch.setattr(config, "NOTEBOOKS_DIR", tmp_path / "notebooks")
    (tmp_path / "notebooks").mkdir()
    for stem, title in [("01_models", "01 Models <compared>"), ("02_raw", "02 Raw values")]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {title}")])
        nbformat.write(nb, tmp_path / "notebooks" / f"{stem}.ipynb")
    reports = tmp_path / "reports"
    (reports / "executed").mkdir(parents=True)
    nbformat.write(nb, reports / "executed" / "02_raw.ipynb")  # the one that ran far enough
    for stem, names in [("01_models", ["roc_curve", "loss_curves"]), ("02_raw", ["histogram"])]:
        (reports / "figures" / stem).mkdir(parents=True)
        for name in names:
            (reports / "figures" / stem / f"{name}.png").write_bytes(tiny_png())
    (reports / "metrics").mkdir()
    models = {"rnn": {"roc_auc": {"value": 0.87, "ci_low": 0.8531, "ci_high": 0.8917}},
              "lstm": {"roc_auc": {"mean_over_seeds": 0.8123, "std_over_seeds": 0.0104}}}
    first = fake_metrics("01_models", {"test_metrics": models, "n_sessions": 1200, "<b>raw</b>": 1.0},
                         headlines=["test_metrics"], key_figure="roc_curve",
                         fallbacks=["reviews were <simulated>"])
    second = fake_metrics("02_raw", {"rows": 10, "share_of_purchases": 0.25})
    for payload in (first, second):
        (reports / "metrics" / f"{payload['notebook']}.json").write_text(json.dumps(payload))
    runs = {"last_profile": "smoke", "notebooks": {
        "01_models": {"notebook": "01_models", "status": "ok", "seconds": 3.0, "profile": "smoke",
                      "finished_at": "2026-01-01T00:00:03"},
        "02_raw": {"notebook": "02_raw", "status": "failed", "seconds": 1.0, "profile": "smoke",
                   "finished_at": "2026-01-01T00:00:04", "error": "ValueError: <bad> column"}}}
    (reports / "runs.json").write_text(json.dumps(runs))
    return page.build_report().read_text(encoding="utf-8")


def test_the_page_opens_with_the_findings_as_tables(fake_report):
    index = fake_report
    findings = index.index('<section id="findings">')
    first, second = index.index('id="findings-01_models"'), index.index('id="findings-02_raw"')
    details = index.index('<section id="notebooks">')
    assert findings < first < second < details
    assert index.find("<details class=\"raw-values\">") > details  # every raw list after the findings
    headline = index[first:second]
    assert "<caption>test_metrics</caption>" in headline
    assert '<tr><th>rnn</th><td class="num">0.870 [0.853, 0.892]</td></tr>' in headline
    assert '<tr><th>lstm</th><td class="num">0.812 ± 0.010</td></tr>' in headline
    assert '<p class="fallback">Fallback: reviews were &lt;simulated&gt;</p>' in headline
    # the key figure at full width, linked to its PNG; not repeated in the gallery
    assert '<a href="figures/01_models/roc_curve.png"><img src="figures/01_models/roc_curve.png"' in headline
    assert index.count("figures/01_models/roc_curve.png") == 2
    assert 'src="figures/01_models/loss_curves.png"' in index[details:]
    # the notebook without headlines says so, never an empty table
    assert 'class="no-headlines">No headlines recorded' in index[second:details]
    assert "<table" not in index[second:details]


def test_raw_values_are_collapsed_and_everything_is_escaped(fake_report):
    index = fake_report
    raw = index.split('<details class="raw-values">')
    assert len(raw) == 3  # one collapsed list per notebook, none open
    assert "<details open" not in index
    assert "<td>n_sessions</td>" in raw[1] and "<td>test_metrics.rnn.roc_auc.value</td>" in raw[1]
    assert '<details class="parameters">' in raw[1] and "<td>epochs</td>" in raw[1]
    assert "<td>&lt;b&gt;raw&lt;/b&gt;</td>" in raw[1] and "<b>raw</b>" not in index
    assert "01 Models &lt;compared&gt;" in index and "<compared>" not in index
    assert '<pre class="error">ValueError: &lt;bad&gt; column</pre>' in index
    assert index.count('class="executed"') == 1 and 'href="executed/02_raw.html"' in index
    assert "Built " in index and "commit " in index and "profile smoke" in index and "tensorflow" in index


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
            assert f"<td>{escape(name)}</td>" in index, (notebook.stem, name)
        for figure in (reports / "figures" / notebook.stem).glob("*.png"):
            assert f'src="figures/{notebook.stem}/{figure.name}"' in index
    runs = json.loads((reports / "runs.json").read_text())["notebooks"]
    assert all(run["status"] == "ok" for run in runs.values())
    # without the mirror (and offline) 11 labels the simulator's reviews, and the report says so
    classification = read_metrics("11_product_classification")
    if classification["metrics"]["review_texts"]["source"] == "simulated":
        assert classification["fallbacks"]
        assert f'class="fallback">Fallback: {escape(classification["fallbacks"][0])}' in index


@pytest.mark.slow
def test_the_study_records_its_answer_with_seeds_and_shoppers_in_the_intervals(smoke_report, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(smoke_report))
    evaluation = read_metrics("06_evaluation")["metrics"]
    lstm_vs_rnn = evaluation["paired_auc_difference"]["lstm_vs_rnn"]
    assert lstm_vs_rnn["ci_low"] <= lstm_vs_rnn["value"] <= lstm_vs_rnn["ci_high"]
    assert lstm_vs_rnn["resampling"] == "shoppers and seeds"
    assert lstm_vs_rnn["n_seeds"] >= 1 and lstm_vs_rnn["n_bootstrap"] >= 20
    gap = evaluation["best_sequence_gap_to_ceiling"]
    assert gap["ci_low"] <= gap["ci_high"]
    # every decision point of the smoke profile (max_k = 5), every model, with an interval
    by_prefix = evaluation["by_prefix"]
    assert sorted(map(int, by_prefix)) == [1, 2, 3, 4, 5]
    for k, row in by_prefix.items():
        for model in ("logistic", "boosting", "rnn", "lstm", "gru", "cnn"):
            if model in row:  # missing only where the group has one class
                assert row[model]["ci_low"] <= row[model]["ci_high"], (k, model)
    assert any("lstm" in row for row in by_prefix.values())
    training = read_metrics("05_rnn_vs_lstm")["metrics"]
    assert set(training["epoch_cap_hit_share"]) == {"rnn", "lstm", "gru", "cnn"}
    assert all(0 <= share <= 1 for share in training["epoch_cap_hit_share"].values())


@pytest.mark.slow
def test_every_exercise_check_passes_with_its_solution(smoke_report, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(smoke_report))
    for notebook in notebooks.discover():
        checks = read_metrics(notebook.stem)["metrics"].get("exercise_checks", {})
        assert len(checks) >= 2 and all(checks.values()), (notebook.stem, checks)


@pytest.mark.slow
def test_every_student_copy_runs_from_top_to_bottom(smoke_report, tmp_path):
    """The copies a student gets (solutions stubbed) run on the smoke data without an error;
    each check then says there is no answer yet."""
    import shutil

    import papermill

    from utils.report.student import write_student_copies

    work = tmp_path / "work"  # a copy of the smoke run's data, so the report's metrics stay as they are
    shutil.copytree(smoke_report / "data", work / "data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BEAUTY_WORKDIR", str(work))  # the kernel inherits it
        for copy in write_student_copies(tmp_path / "student"):
            out = tmp_path / "executed" / copy.name
            out.parent.mkdir(exist_ok=True)
            papermill.execute_notebook(copy, out, parameters={"profile": "smoke"}, progress_bar=False,
                                       cwd=str(config.NOTEBOOKS_DIR), kernel_name=config.KERNEL_NAME)
            text = out.read_text(encoding="utf-8")
            assert "no answer yet" in text, copy.name


@pytest.mark.slow
def test_primer_numpy_matches_keras(smoke_report, monkeypatch):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(smoke_report))
    recorded = read_metrics("00_rnn_lstm_primer")["metrics"]
    assert recorded["rnn_max_abs_diff"] < 1e-5
    assert recorded["lstm_max_abs_diff"] < 1e-5
    far = recorded["relative_gradient_steps_back"]
    # the open forget gate keeps the gradient; the default-initialised RNN loses it
    assert far["LSTM, forget bias 3"] > 100 * far["RNN, W_hh scale 1.0"]


# ------------------------------------------------------------------ no raw id leaves the pipeline

# A whole UUID (a session id), or a whole number (a user id) that is not the decimals of another.
ID_TOKENS = re.compile(r"(?<![0-9a-z])[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}(?![0-9a-z])"
                       r"|(?<![0-9a-z.])\d+(?![0-9a-z])", re.IGNORECASE)
TEXT_FILES = {".html", ".json", ".ipynb", ".md", ".csv", ".txt", ".svg", ".log", ".journal"}
NOT_SCANNABLE = {".png", ".keras", ".joblib"}  # images, and models saved compressed or pickled


def ids_in_text(text: str, raw_ids: set[str]) -> set[str]:
    return {token.lower() for token in ID_TOKENS.findall(text)} & raw_ids


def ids_in_values(values, raw_ids: set[str]) -> set[str]:
    """The raw ids among ``values``, each read as text and, when it is a number, as a number."""
    found = set()
    for value in values:
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and value == value:
            if float(value).is_integer() and str(int(value)) in raw_ids:
                found.add(str(int(value)))
        found |= ids_in_text(str(value), raw_ids)
    return found


def raw_ids_in_files(folders, raw_ids: set[str]) -> dict[str, set[str]]:
    """{file: the raw ids it holds} for every file under ``folders`` that holds one. ``raw_ids``
    are texts: user ids as digits, session ids as lower-case UUIDs.

    Parquet files are read column by column (every distinct value, as text and as number, and the
    schema with its metadata), .npz files array by array, text files as text. Files that cannot
    be scanned (NOT_SCANNABLE) are skipped; any other kind is an error, so that a new kind of
    output gets a scanner instead of a silent pass."""
    found = {}
    for folder in folders:
        for path in sorted(Path(folder).rglob("*")):
            suffix = path.suffix.lower()
            if not path.is_file() or suffix in NOT_SCANNABLE:
                continue
            if suffix == ".parquet":
                table = pq.read_table(path)
                ids = ids_in_text(table.schema.to_string(show_schema_metadata=True, truncate_metadata=False),
                                  raw_ids)
                for column in table.columns:
                    try:
                        values = pc.unique(column).to_pylist()
                    except pa.ArrowNotImplementedError:  # nested values: take them all
                        values = column.to_pylist()
                    ids |= ids_in_values(values, raw_ids)
            elif suffix == ".npz":
                with np.load(path, allow_pickle=False) as arrays:
                    ids = ids_in_text(" ".join(arrays.files), raw_ids)
                    for name in arrays.files:
                        ids |= ids_in_values(np.unique(arrays[name]).tolist(), raw_ids)
            elif suffix in TEXT_FILES:
                ids = ids_in_text(path.read_text(encoding="utf-8", errors="replace"), raw_ids)
            else:
                raise ValueError(f"{path}: no scanner for {suffix or 'suffix-less'} files; add one to "
                                 "raw_ids_in_files (tests/test_report.py), or to NOT_SCANNABLE if it "
                                 "cannot hold readable ids")
            if ids:
                found[str(path)] = ids
    return found


def test_the_raw_id_scanner_finds_planted_ids_and_only_them(tmp_path):
    user, session = "400000003", "43d5fc52-469b-4877-819a-210e43ab0ba6"
    raw_ids = {user, session, "400000018"}
    interim, processed, reports = (tmp_path / "data" / "interim", tmp_path / "data" / "processed",
                                   tmp_path / "reports")
    for folder in (interim, processed, reports / "figures"):
        folder.mkdir(parents=True)
    pseudonyms = pd.DataFrame({"user_id": [6166294786288852401], "user_session": ["217727431cb2a83208c9"],
                               "price": [0.400000003]})  # the decimals of a price are not an id
    pseudonyms.to_parquet(interim / "events.parquet")
    pd.DataFrame({"user_id": [7, 400000003]}).to_parquet(interim / "users.parquet")
    pd.DataFrame({"score": [4.00000018e8]}).to_parquet(processed / "floats.parquet")
    pd.DataFrame({"user_session": pd.Categorical([session.upper(), "x"])}).to_parquet(interim / "c.parquet")
    pd.DataFrame({"user_session": [f"{user}-2"]}).to_parquet(interim / "rebuilt.parquet")
    np.savez(processed / "sequences.npz", user=np.array([1, 400000018]), other=np.array([1400000003]))
    (reports / "index.html").write_text(f"<td>{session}</td> 1400000003 {user}0 x{user} 0.{user}")
    (reports / "runs.json").write_text(json.dumps({"ids": [1400000003, "217727431cb2a83208c9"]}))
    (reports / "figures" / "plot.png").write_bytes(user.encode())  # an image: not scanned
    found = raw_ids_in_files([reports, interim, processed], raw_ids)
    assert found == {str(interim / "users.parquet"): {user}, str(processed / "floats.parquet"): {"400000018"},
                     str(interim / "c.parquet"): {session}, str(interim / "rebuilt.parquet"): {user},
                     str(processed / "sequences.npz"): {"400000018"}, str(reports / "index.html"): {session}}
    (reports / "notes.txt").write_text(f"shopper {user}, session {session}.")
    assert raw_ids_in_files([reports], raw_ids) == {str(reports / "index.html"): {session},
                                                     str(reports / "notes.txt"): {user, session}}
    (reports / "model.pkl").write_bytes(b"")
    with pytest.raises(ValueError, match=r"model\.pkl: no scanner for \.pkl files"):
        raw_ids_in_files([reports], raw_ids)


@pytest.mark.slow
def test_no_raw_user_or_session_id_reaches_the_reports_or_the_interim_and_processed_data(smoke_report):
    """The smoke run pseudonymises ids (01's default): no raw user or session id of the simulated
    shop is in reports/, data/interim/ or data/processed/. The raw ids come from the simulator run
    again with 01's smoke knobs (it is deterministic for a seed); their pseudonyms under the test
    session's key must be the ids of the run's events, so the ids searched for are the run's own.

    Scanned: every Parquet column's values (as text and as numbers), .npz arrays and every text
    file. Images (.png) and saved models (.keras, .joblib) cannot be scanned for ids; no id is a
    model input."""
    from utils.core import crypto
    from utils.data import collect, privacy

    knobs = notebooks.notebook_knobs(config.NOTEBOOKS_DIR / "01_data_collection.ipynb", "smoke")
    assert knobs["pseudonymise_ids"] and knobs["source"] == "simulated", knobs
    tables, truth, _ = collect.collect(knobs["source"], n_users=knobs["n_users"], n_days=knobs["n_days"],
                                       start=knobs["start"], n_products=knobs["n_products"],
                                       seed=knobs["seed"], catalogue=knobs["catalogue"])
    frames = {**tables, **truth}.values()
    raw_users = {str(i) for frame in frames if "user_id" in frame for i in frame["user_id"]}
    raw_sessions = {str(s).lower() for frame in frames if "user_session" in frame
                    for s in frame["user_session"]}
    assert len(raw_users) >= 1000 and len(raw_sessions) >= 1000 and all(len(u) == 9 for u in raw_users)

    written = pd.read_parquet(smoke_report / "data" / "interim" / "events.parquet")
    expected = privacy.pseudonymise(tables["events"]["user_id"], crypto.secret_key("pseudonym"))
    assert set(written["user_id"]) == set(expected), "the raw ids are not the smoke run's"
    info = json.loads((smoke_report / "data" / "interim" / "source.json").read_text())
    assert info["params"]["ids_pseudonymised"] is True

    data = smoke_report / "data"
    found = raw_ids_in_files([smoke_report / "reports", data / "interim", data / "processed"],
                             raw_users | raw_sessions)
    assert found == {}, {path: sorted(ids)[:5] for path, ids in found.items()}


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
NO_BROWSER = ("the browser test needs the system Chromium at /usr/bin/chromium (apt-get install chromium)"
              if not CHROMIUM.is_file() else
              "the browser test needs the playwright package (pip install -e '.[dev]')"
              if importlib.util.find_spec("playwright") is None else "")

# Every <img> that did not load, and every raw-value list or notebook that has no findings
# entry (a headline table or the "no headlines" line) placed before it.
PAGE_CHECKS = """() => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);
  const findings = document.querySelector('#findings');
  const early = [...document.querySelectorAll('details.raw-values')]
    .filter(d => !(findings.compareDocumentPosition(d) & Node.DOCUMENT_POSITION_FOLLOWING)
                 || findings.contains(d)).length;
  const entries = Object.fromEntries([...findings.querySelectorAll('article.finding')].map(
    a => [a.id.replace('findings-', ''), a.querySelectorAll('table.headline, p.no-headlines').length]));
  const executed = [...document.querySelectorAll('a.executed')].map(a => a.href);
  return {broken, early, entries, executed, images: document.images.length};
}"""


@pytest.mark.slow
@pytest.mark.skipif(bool(NO_BROWSER), reason=NO_BROWSER or "browser available")
def test_index_in_a_real_browser(smoke_report):
    from playwright.sync_api import sync_playwright

    stems = [p.stem for p in notebooks.discover()]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page()
            errors = []
            tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.goto((smoke_report / "reports" / "index.html").as_uri(), wait_until="load")
            found = tab.evaluate(PAGE_CHECKS)
            assert errors == [], errors
            assert found["images"] > 0 and found["broken"] == [], found["broken"]
            assert found["early"] == 0, "a raw-value list comes before the findings"
            assert {stem: found["entries"].get(stem, 0) > 0 for stem in stems} == dict.fromkeys(stems, True)
            assert sorted(Path(urlparse(href).path).stem for href in found["executed"]) == stems
            for href in found["executed"]:
                assert Path(unquote(urlparse(href).path)).is_file(), href
                notebook_tab = browser.new_page()
                notebook_tab.goto(href, wait_until="domcontentloaded")
                assert notebook_tab.locator(".jp-Notebook, #notebook").count() > 0, href
                notebook_tab.close()
        finally:
            browser.close()
