"""The scale benchmark (utils.report.scale) on a tiny log: every stage is recorded with its time and
memory, a second run resumes instead of redoing, and the docs page gets the measured section."""

from __future__ import annotations

import json

import pytest

from utils.report import scale


@pytest.mark.slow
def test_every_stage_is_recorded_and_a_rerun_resumes(tmp_path, capsys):
    out = tmp_path / "benchmark_scale.json"
    record = scale.run([40_000], tmp_path / "data", out, epochs=1)
    stages = record["runs"]["40000"]
    assert set(stages) == {"data", *scale.STAGES}
    assert json.loads(out.read_text()) == record
    assert stages["data"]["events"] > 30_000
    converted = stages["convert"]
    assert converted["rows_kept"] == stages["data"]["events"] - converted["duplicates_removed"]
    assert stages["dask_1"]["same_as_pandas"] and stages["dask_2"]["same_as_pandas"]
    assert stages["preprocess"]["points"] == stages["dask_2"]["points"] > 0
    for stage in scale.STAGES:
        assert stages[stage]["wall_seconds"] > 0 and stages[stage]["peak_mib"] > 0, stage
    for kind in scale.KINDS:
        assert 0 <= stages["train"][kind]["test_auc"] <= 1
        assert len(stages["train"][kind]["validation_auc"]) == 1

    capsys.readouterr()
    again = scale.run([40_000], tmp_path / "data", out, epochs=1)
    assert again["runs"] == record["runs"]  # nothing was run again
    assert "$ " not in capsys.readouterr().out

    page = tmp_path / "scale.md"
    page.write_text(f"# Scale\n\n{scale.MARKS[0]}\nold\n{scale.MARKS[1]}\ntail\n")
    figure = scale.write_docs(record, None, page)
    text = page.read_text()
    assert "old" not in text and text.endswith(f"{scale.MARKS[1]}\ntail\n")
    assert f"{stages['data']['events']:,}" in text and "| dask_2 |" in text
    assert figure.is_file() and figure.stat().st_size > 0
