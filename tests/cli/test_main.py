"""The ``workbench`` console script: version, help, and what installing it sets up."""

from __future__ import annotations

import subprocess
import sys

import workbench
from tests.cli import WORKBENCH


def test_version():
    proc = subprocess.run([WORKBENCH, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"workbench {workbench.__version__}"


def test_module_runs_the_same_app():
    proc = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--version"], capture_output=True, text=True
    )
    assert proc.stdout.strip() == f"workbench {workbench.__version__}", proc.stderr


def test_no_args_shows_help():
    proc = subprocess.run([WORKBENCH], capture_output=True, text=True)
    assert "doctor" in proc.stdout and "lab" in proc.stdout


def test_installed_package_enables_the_server_extension():
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    assert manager.get_jpserver_extensions().get("workbench.server") is True
