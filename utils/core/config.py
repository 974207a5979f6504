"""Paths, parameter profiles and seeding: the one place every notebook and script takes them from.

Environment variables (all optional):

- ``BEAUTY_PROFILE``: the profile a notebook uses when its ``profile`` parameter is None
  (smoke | workshop | full, or a path to a YAML file). Default: workshop.
- ``BEAUTY_WORKDIR``: where ``data/`` and ``reports/`` live. Default: the project root. Tests
  point it at a temporary folder so they never touch a researcher's results.
- ``BEAUTY_DATA_MIRROR``: a local folder or URL holding copies of the public datasets
  (see ``utils.data.sources``).
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = NOTEBOOKS_DIR / "params"
DEFAULT_PROFILE = "workshop"
KERNEL_NAME = "beauty-behaviour"


class ProfileError(ValueError):
    """A profile that does not exist or does not fit the notebooks; the message says the fix."""


def workdir() -> Path:
    """Folder holding data/ and reports/ (read at call time, so tests can redirect it)."""
    return Path(os.environ.get("BEAUTY_WORKDIR", PROJECT_ROOT)).resolve()


def data_dir(stage: str) -> Path:
    """data/raw, data/interim, data/processed or data/external, created on first use."""
    if stage not in ("raw", "interim", "processed", "external"):
        raise ValueError(f"unknown data stage {stage!r}; expected raw, interim, processed or external")
    path = workdir() / "data" / stage
    path.mkdir(parents=True, exist_ok=True)
    return path


def reports_dir(sub: str = "") -> Path:
    """reports/ or one of its sub-folders (executed, figures, metrics), created on first use."""
    path = workdir() / "reports" / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def profile_path(profile: str) -> Path:
    """Resolve a profile name (smoke, workshop, full) or a path to a YAML file."""
    candidate = Path(profile)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ProfileError(f"profile file {candidate} does not exist")
        return candidate
    path = PARAMS_DIR / f"{profile}.yaml"
    if not path.is_file():
        raise ProfileError(
            f"unknown profile {profile!r}: no file {path}. "
            f"Available profiles: {', '.join(available_profiles())} (or give a path to a .yaml file)."
        )
    return path


class _ProfileLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        first_line = {}
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = self.construct_object(key_node)
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        problem=f"key {key!r} is given twice (first on line {first_line[key]}); keep one, "
                                "since YAML would silently use the last",
                        problem_mark=key_node.start_mark)
                first_line[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def load_profile(profile: str) -> dict[str, dict]:
    """Return {notebook stem: {knob: value}} from a profile file, checking its shape."""
    path = profile_path(profile)
    try:
        with path.open("rb") as handle:  # a file handle, so YAML's own messages name the file
            content = yaml.load(handle, Loader=_ProfileLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        hint = "" if isinstance(err, yaml.constructor.ConstructorError) else (
            " Fix the YAML there: check the indentation, colons, brackets and quotes.")
        raise ProfileError(f"{path}{where}: {err.problem or err}.{hint}") from err
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: cannot read the YAML: {err}") from err
    layout = "a profile is a mapping 'description: ...' and 'notebooks: {<notebook stem>: {knob: value}}'"
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ProfileError(f"{path}: the file holds a {type(content).__name__}, but {layout}.")
    unknown_top = set(content) - {"description", "notebooks"}
    if unknown_top:
        raise ProfileError(f"{path}: unknown top-level key(s) {sorted(unknown_top, key=str)}; {layout}.")
    notebooks = content.get("notebooks")
    if notebooks is None:
        notebooks = {}
    if not isinstance(notebooks, dict):
        raise ProfileError(f"{path}: 'notebooks' holds a {type(notebooks).__name__}, but {layout}.")
    existing = {p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")}
    for stem, knobs in notebooks.items():
        if stem not in existing:
            raise ProfileError(
                f"{path}: section {stem!r} names no notebook in {NOTEBOOKS_DIR}. "
                f"Known notebooks: {', '.join(sorted(existing))}."
            )
        if knobs is None:  # a section whose knobs are all commented out
            notebooks[stem] = {}
        elif not isinstance(knobs, dict):
            raise ProfileError(
                f"{path}: section {stem!r} holds a {type(knobs).__name__} ({knobs!r}), but it must map "
                f"knob names to values, e.g. '{stem}: {{epochs: 2}}'."
            )
    return notebooks


def resolve_profile_name(profile: str | None) -> str:
    return profile or os.environ.get("BEAUTY_PROFILE") or DEFAULT_PROFILE


def _is_knob(name: str, value) -> bool:
    return not name.startswith("_") and isinstance(value, (int, float, str, bool, list, dict, type(None)))


# The types a knob may have: (type, name, how to write one in YAML). bool comes first because
# True is also an int in Python, and a bool must not pass for an int.
_KNOB_TYPES = (
    (bool, "a bool", "write true or false, without quotes"),
    (int, "an int", "write a whole number, without quotes"),
    (float, "a float", "write a number, without quotes"),
    (str, "a str", "write text, in quotes if it looks like a number, a date or true/false"),
    (list, "a list", "write a list, e.g. [1, 2]"),
    (dict, "a dict", "write a mapping, e.g. {a: 1}"),
)


def _kind(value) -> tuple | None:
    """The _KNOB_TYPES row of ``value`` (None for another type)."""
    return next((row for row in _KNOB_TYPES if isinstance(value, row[0])), None)


def _mismatch(default, value, where: str = "") -> tuple | None:
    """(where, expected kind, value there) for the first part of ``value`` whose type is not the
    one of the parameters cell's ``default``, or None when it fits. A None default takes anything;
    an int passes for a float; list elements are checked against the default's elements, dict
    values against the default's value for the same key."""
    kind = _kind(default)
    if default is None or kind is None:
        return None
    fits = (isinstance(value, (int, float)) and not isinstance(value, bool) if kind[0] is float
            else _kind(value) is kind)
    if not fits:
        return where, kind, value
    if isinstance(default, list) and default:
        for i, item in enumerate(value):
            if all(_mismatch(d, item) for d in default):
                return _mismatch(default[0], item, f"{where}[{i}]")
    if isinstance(default, dict):
        for key, item in value.items():
            found = _mismatch(default[key], item, f"{where}[{key!r}]") if key in default else None
            if found:
                return found
    return None


@dataclass
class AppliedProfile:
    """What apply_profile did. Unpacks as the pair (profile, knobs)."""

    profile: str
    knobs: dict
    overrides: dict  # {knob: (value before, profile's value)} for each knob the profile changed

    def __iter__(self):
        return iter((self.profile, self.knobs))


def apply_profile(notebook: str, namespace: dict) -> AppliedProfile:
    """Override the knobs of a notebook's parameters cell with the chosen profile's values.

    ``namespace`` is the notebook's ``globals()``; its ``profile`` knob picks the profile (None
    means $BEAUTY_PROFILE, else workshop). A profile may only set knobs the parameters cell
    defines, each with the type of the cell's value, so a typo fails loudly instead of being
    ignored or failing deep inside the notebook. Nothing is changed unless every value passes.
    ``profile, knobs = apply_profile(...)`` gives the profile and all knobs.
    """
    name = resolve_profile_name(namespace.get("profile"))
    path = profile_path(name)
    source = f"profile {name!r} ({path})" if name != str(path) else f"profile {path}"
    overrides = load_profile(name).get(notebook, {})
    knobs = {k: v for k, v in namespace.items() if _is_knob(k, v) and k not in ("In", "Out")}
    for key, value in overrides.items():
        if key not in knobs:
            raise ProfileError(
                f"{source} sets {key!r} for {notebook}, but the "
                f"notebook's parameters cell has no such knob. Its knobs: {', '.join(sorted(knobs))}."
            )
        found = _mismatch(knobs[key], value)
        if found:
            where, (_, expected, hint), given = found
            raise ProfileError(
                f"{source} sets {key}{where} for {notebook} to {given!r} "
                f"({type(given).__name__}), but it must be {expected}, like the parameters cell's "
                f"{key} = {knobs[key]!r}: {hint}."
            )
    changed = {k: (namespace[k], v) for k, v in overrides.items() if namespace[k] != v}
    namespace.update(overrides)
    knobs.update(overrides)
    namespace["profile"] = knobs["profile"] = name
    return AppliedProfile(name, knobs, changed)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and, when it is imported, TensorFlow (import it before calling this)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def read_table(stage: str, name: str, made_by: str):
    """Read data/<stage>/<name>.parquet (or its encrypted form, <name>.parquet.enc), or say which
    notebook writes it."""
    import pandas as pd

    from utils.core import crypto

    return pd.read_parquet(crypto.for_reading(_written(stage, f"{name}.parquet", made_by)))


def read_json(stage: str, name: str, made_by: str) -> dict:
    """Read data/<stage>/<name>.json (or its encrypted form), or say which notebook writes it."""
    import json

    from utils.core import crypto

    return json.loads(crypto.read_bytes(crypto.plain_or_encrypted(_written(stage, f"{name}.json", made_by))))


def _written(stage: str, filename: str, made_by: str) -> Path:
    """data/<stage>/<filename>, once it is there (plain or encrypted): else which notebook writes it."""
    from utils.core import crypto

    path = data_dir(stage) / filename
    if crypto.plain_or_encrypted(path) is None:
        raise FileNotFoundError(f"{path} is missing: run notebook {made_by} first "
                                "(or `beauty report --only ...` up to it)")
    return path


def one_openmp_thread():
    """Gradient boosting's OpenMP threads spin while they wait; when anything else wants the
    cores (TensorFlow's threads, another process) a fit can take 20x longer. One thread is
    barely slower on two cores and never stalls."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")
