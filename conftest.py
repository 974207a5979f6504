"""Test-session settings shared by the unit tests and the nbval notebook run.

Everything the tests execute (notebooks included, in the kernels nbval and papermill start, which
inherit this process's environment) uses the smoke profile and writes into a temporary work folder,
never into the project's data/ and reports/, and keeps its secret keys in a temporary key folder,
never in ~/.config.
"""

import os
import shutil
import tempfile
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def pytest_configure(config):
    os.environ.setdefault("BEAUTY_PROFILE", "smoke")
    os.environ["BEAUTY_WORKDIR"] = tempfile.mkdtemp(prefix="beauty-tests-")
    os.environ["BEAUTY_KEY_DIR"] = tempfile.mkdtemp(prefix="beauty-test-keys-")  # owner-only, not ~/.config
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "BEAUTY_DATA_MIRROR" not in os.environ and SHARED_DATA.is_dir():
        os.environ["BEAUTY_DATA_MIRROR"] = str(SHARED_DATA)


def pytest_collection_modifyitems(config, items):
    # nbval items execute whole notebooks: mark them slow like the other notebook tests.
    import pytest

    for item in items:
        if item.fspath.ext == ".ipynb":
            item.add_marker(pytest.mark.slow)


def pytest_unconfigure(config):
    workdir = os.environ.get("BEAUTY_WORKDIR", "")
    if Path(workdir).name.startswith("beauty-tests-"):
        shutil.rmtree(workdir, ignore_errors=True)
    key_dir = os.environ.get("BEAUTY_KEY_DIR", "")
    if Path(key_dir).name.startswith("beauty-test-keys-"):
        shutil.rmtree(key_dir, ignore_errors=True)
