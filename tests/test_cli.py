from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import workbench
from workbench.cli import lab_argv

WORKBENCH = str(Path(sys.executable).parent / "workbench")


def test_version():
    proc = subprocess.run([WORKBENCH, "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == f"workbench {workbench.__version__}"


def test_no_args_shows_help():
    proc = subprocess.run([WORKBENCH], capture_output=True, text=True)
    assert "doctor" in proc.stdout and "lab" in proc.stdout


def test_lab_argv():
    argv = lab_argv(8899, True, ["--ServerApp.token=abc"])
    root = ["--allow-root"] if os.geteuid() == 0 else []
    assert argv == [
        sys.executable, "-m", "jupyterlab", *root,
        "--port=8899", "--no-browser", "--ServerApp.token=abc",
    ]  # fmt: skip


def test_installed_package_enables_the_server_extension():
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    manager = ExtensionConfigManager(read_config_path=jupyter_config_path())
    assert manager.get_jpserver_extensions().get("workbench.server") is True


def test_models_lists_the_zoo():
    proc = subprocess.run(
        [WORKBENCH, "models", "--json"], capture_output=True, text=True, check=True
    )
    names = {m["name"] for m in json.loads(proc.stdout)}
    assert {"resnet50", "unet", "keras_mobilenet_v2"} <= names
