"""``workbench lab``: the JupyterLab command line it execs."""

from __future__ import annotations

import os
import sys

from workbench.cli.lab import lab_argv


def test_lab_argv():
    argv = lab_argv(8899, True, ["--ServerApp.token=abc"])
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert argv == [
        sys.executable, "-m", "jupyterlab", *root,
        "--port=8899", "--no-browser", "--ServerApp.token=abc",
    ]  # fmt: skip
