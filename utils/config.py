"""Paths, parameter profiles and seeding: the one place every notebook and script takes them from.

Environment variables (all optional):

- ``BEAUTY_PROFILE``: the profile a notebook uses when its ``profile`` parameter is None
  (smoke | workshop | full, or a path to a YAML file). Default: workshop.
- ``BEAUTY_WORKDIR``: where ``data/`` and ``reports/`` live. Default: the project root. Tests
  point it at a temporary folder so they never touch a researcher's results.
- ``BEAUTY_DATA_MIRROR``: a local folder or URL holding copies of the public datasets
  (see ``utils.datasets``).
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import numpy as np
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
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


def load_profile(profile: str) -> dict[str, dict]:
    """Return {notebook stem: {knob: value}} from a profile file, checking its shape."""
    path = profile_path(profile)
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    notebooks = content.get("notebooks") or {}
    unknown_top = set(content) - {"description", "notebooks"}
    if unknown_top:
        raise ProfileError(
            f"{path}: unknown top-level key(s) {sorted(unknown_top)}; "
            "a profile has 'description' and 'notebooks: {<notebook stem>: {knob: value}}'."
        )
    existing = {p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")}
    for stem, knobs in notebooks.items():
        if stem not in existing:
            raise ProfileError(
                f"{path}: section {stem!r} names no notebook in {NOTEBOOKS_DIR}. "
                f"Known notebooks: {', '.join(sorted(existing))}."
            )
        if not isinstance(knobs, dict):
            raise ProfileError(f"{path}: section {stem!r} must map knob names to values")
    return notebooks


def resolve_profile_name(profile: str | None) -> str:
    return profile or os.environ.get("BEAUTY_PROFILE") or DEFAULT_PROFILE


def _is_knob(name: str, value) -> bool:
    return not name.startswith("_") and isinstance(value, (int, float, str, bool, list, dict, type(None)))


def apply_profile(notebook: str, namespace: dict) -> tuple[str, dict]:
    """Override the knobs of a notebook's parameters cell with the chosen profile's values.

    ``namespace`` is the notebook's ``globals()``; its ``profile`` knob picks the profile (None
    means $BEAUTY_PROFILE, else workshop). A profile may only set knobs the parameters cell
    defines, so a typo fails loudly instead of being ignored. Returns (profile, all knobs).
    """
    name = resolve_profile_name(namespace.get("profile"))
    overrides = load_profile(name).get(notebook, {})
    knobs = {k: v for k, v in namespace.items() if _is_knob(k, v) and k not in ("In", "Out")}
    for key, value in overrides.items():
        if key not in knobs:
            raise ProfileError(
                f"profile {name!r} ({profile_path(name)}) sets {key!r} for {notebook}, but the "
                f"notebook's parameters cell has no such knob. Its knobs: {', '.join(sorted(knobs))}."
            )
        namespace[key] = value
        knobs[key] = value
    namespace["profile"] = knobs["profile"] = name
    return name, knobs


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and, when it is imported, TensorFlow (import it before calling this)."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    if "tensorflow" in sys.modules:
        import keras

        keras.utils.set_random_seed(seed)


def read_table(stage: str, name: str, made_by: str):
    """Read data/<stage>/<name>.parquet, or say which notebook writes it."""
    import pandas as pd

    path = data_dir(stage) / f"{name}.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run notebook {made_by} first "
                                "(or `python -m utils.pipeline --only ...` up to it)")
    return pd.read_parquet(path)


def data_source() -> str:
    """The source notebook 01 collected (data/interim/source.json)."""
    import json

    path = data_dir("interim") / "source.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run notebook 01_data_collection first")
    return json.loads(path.read_text(encoding="utf-8"))["source"]


def one_openmp_thread():
    """Gradient boosting's OpenMP threads spin while they wait; when anything else wants the
    cores (TensorFlow's threads, another process) a fit can take 20x longer. One thread is
    barely slower on two cores and never stalls."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")
