"""The workshop kit: every notebook's exercises have a hint, a solution cell and a check, the
checks exist and say right from wrong, and the student copies hide the solutions."""

import re

import nbformat
import pytest

from utils.core import recorder
from utils.report import exercises, student
from utils.report.notebooks import discover

CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\d+)["']\s*,\s*answer\b""")


def _exercises(path):
    """[(id, hint markdown, solution cell, check cell)] of a notebook, in order."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if student.SOLUTION_TAG in cell.metadata.get("tags", []):
            check_cell = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            match = CHECK_CALL.search(check_cell.source) if check_cell is not None else None
            hint = next((c for c in reversed(nb.cells[:i]) if c.cell_type == "markdown"), None)
            found.append((match.group(1) if match else None, hint, cell, check_cell))
    return found


@pytest.mark.parametrize("path", discover(), ids=lambda p: p.stem)
def test_every_notebook_has_two_exercises_with_a_hint_a_solution_and_a_check(path):
    found = _exercises(path)
    assert len(found) >= 2, f"{path.name}: {len(found)} exercise(s) with a solution cell; at least 2"
    number = path.stem[:2]
    for exercise, hint, solution, _ in found:
        assert exercise is not None, (
            f"{path.name}: the cell after a solution must call check('NN.i', answer, ...)")
        assert exercise.startswith(f"{number}."), (path.name, exercise)
        assert solution.cell_type == "code" and re.search(r"^answer\s*=", solution.source, re.M), (
            f"{path.name} {exercise}: the solution cell must set `answer`")
        assert f"Exercise {exercise}" in hint.source and "Hint" in hint.source, (
            f"{path.name} {exercise}: the markdown before the solution names the exercise and gives a Hint")
        module = __import__(f"utils.report.exercises.n{number}", fromlist=["CHECKS"])
        assert exercise in module.CHECKS, f"no check for {exercise} in utils/report/exercises/n{number}.py"
    ids = [e for e, *_ in found]
    assert len(ids) == len(set(ids)), f"{path.name}: exercise ids repeat: {ids}"


def test_the_student_copy_stubs_solutions_and_clears_outputs_and_keeps_the_rest():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("### Exercise 99.1\n\n**Hint.** look"),
        nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
        nbformat.v4.new_code_cell('check("99.1", answer)'),
    ])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="42")]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="right")]
    nb.cells[2].execution_count = 3
    copy = student.student_copy(nb)
    assert copy.cells[1].source == student.STUB and copy.cells[1].metadata["tags"] == ["solution"]
    assert [copy.cells[i].source for i in (0, 2)] == [nb.cells[i].source for i in (0, 2)]
    code = [c for c in copy.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    assert nb.cells[1].source == "answer = 42"  # the original is left alone


def test_make_student_writes_a_copy_of_every_notebook(tmp_path):
    written = student.write_student_copies(tmp_path)
    assert [p.name for p in written] == [p.name for p in discover()]
    for path in written:
        copy = nbformat.read(path, as_version=4)
        solutions = [c for c in copy.cells if student.SOLUTION_TAG in c.metadata.get("tags", [])]
        assert solutions and all(c.source == student.STUB for c in solutions), path.name


def test_a_check_says_right_from_wrong_and_records_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BEAUTY_WORKDIR", str(tmp_path))
    monkeypatch.setattr(exercises, "importlib", type("fake", (), {"import_module": staticmethod(
        lambda name: type("m", (), {"CHECKS": {"99.1": lambda answer, target: exercises.close(
            answer, target, 0.01, "the value")}}))}))
    recorder.start_run("99_fake", {"profile": "smoke", "seed": 0})

    def verdict(answer):
        exercises.check("99.1", answer, target=0.5)
        return capsys.readouterr().out, recorder.read_metrics("99_fake")["metrics"]["exercise_checks"]["99.1"]

    out, passed = verdict(0.5)
    assert passed and out.startswith("✓ right (99.1)")
    out, passed = verdict(0.7)
    assert not passed and "too high" in out
    out, passed = verdict(...)  # the student copy's stub
    assert not passed and "no answer yet" in out
    out, passed = verdict("abc")  # unreadable: a wrong answer, not a crash
    assert not passed and "could not read this answer" in out


def test_an_exercise_without_a_check_is_named():
    with pytest.raises(KeyError, match=r"exercises/n98\.py"):
        exercises.check("98.1", 1)
