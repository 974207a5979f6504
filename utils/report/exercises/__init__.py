"""Exercise checks: ``check("05.1", answer, **context)`` tells a student whether an answer is right.

Every notebook ends with exercises, each done inside the notebook: a hint, a cell tagged
``solution`` (a stub in the student copies, see ``student``), and a check cell that calls
``check``. The checks of notebook NN live in ``utils/report/exercises/nNN.py`` as ``CHECKS``,
{exercise id: function(answer, **context) -> (passed, message)}; they compute what is right from
the run's own data (``context`` holds what they need from the notebook), never from a number
typed in, so the student copy shows no answer. A check prints a clear message either way and
records the outcome in the notebook's metrics (``exercise_checks``), which the tests read.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from utils.core import recorder


@dataclass
class Result:
    exercise: str
    passed: bool
    message: str

    def __repr__(self) -> str:
        return f"{'✓ right' if self.passed else '✗ not yet'} ({self.exercise}): {self.message}"


def check(exercise: str, answer, **context) -> None:
    """Check ``answer`` to exercise ``exercise`` ("NN.i"), print the verdict and record it (it
    returns nothing, so a notebook shows the verdict once)."""
    notebook, _, _ = exercise.partition(".")
    try:
        rule = importlib.import_module(f"{__name__}.n{notebook}").CHECKS[exercise]
    except (ModuleNotFoundError, KeyError):
        raise KeyError(f"no check for exercise {exercise!r}: expected CHECKS[{exercise!r}] in "
                       f"utils/report/exercises/n{notebook}.py") from None
    if answer is None or answer is Ellipsis:
        result = Result(exercise, False, "no answer yet: set `answer` in the cell above")
    else:
        try:
            result = Result(exercise, *rule(answer, **context))
        except Exception as error:  # a malformed answer is a wrong answer, said plainly
            result = Result(exercise, False, f"the check could not read this answer ({type(error).__name__}: "
                                             f"{error})")
    print(repr(result))
    try:
        run = recorder.active_run()
    except RuntimeError:  # the notebook has not started its run: nothing to record into
        return
    recorder.record("exercise_checks", {**run.values.get("exercise_checks", {}), exercise: result.passed})


# ---------------------------------------------------------------------------------------------
# What the checks of every notebook share


def close(answer, expected, tolerance: float, what: str) -> tuple[bool, str]:
    """A number within ``tolerance`` (absolute) of the expected one."""
    value = float(answer)
    if abs(value - expected) <= tolerance:
        return True, f"{what} is {expected:.4g}, and you found {value:.4g}."
    return False, (f"{what}: {value:.4g} is off by more than {tolerance:g}; "
                   f"{'too high' if value > expected else 'too low'}. Check the hint.")


def same_integer(answer, expected: int, what: str) -> tuple[bool, str]:
    """An exact count."""
    value = int(np.asarray(answer).item())
    if value == expected:
        return True, f"{what}: {expected:,}."
    return False, f"{what}: {value:,} is not it ({'too many' if value > expected else 'too few'})."


def one_of(answer, choices: dict, right: str, what: str) -> tuple[bool, str]:
    """A choice among named options; ``choices`` maps each option to why it is right or wrong."""
    key = str(answer).strip().lower()
    if key not in choices:
        return False, f"answer one of {', '.join(repr(c) for c in choices)} for {what}."
    return key == right, choices[key]
