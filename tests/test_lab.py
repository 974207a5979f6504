"""JupyterLab finds the project's kernel: a Jupyter server started on loopback lists it."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from utils.core import config


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_a_jupyter_server_offers_the_project_kernel(tmp_path):
    port, token = _free_port(), "beauty-test"
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", "--ip=127.0.0.1",
         f"--port={port}", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={config.NOTEBOOKS_DIR}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}/api/kernelspecs?token={token}"
    try:
        for _ in range(120):  # the server takes a few seconds to start
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    specs = json.loads(response.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail(f"no Jupyter server answered on port {port} within a minute")
    finally:
        server.terminate()
        server.wait(timeout=30)
    found = sorted(specs["kernelspecs"])
    assert config.KERNEL_NAME in found, f"no kernel {config.KERNEL_NAME!r} (run `make kernel`); found {found}"
    spec = specs["kernelspecs"][config.KERNEL_NAME]["spec"]
    assert spec["language"] == "python"
