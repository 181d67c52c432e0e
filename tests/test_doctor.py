"""`workbench doctor` reports honestly about this machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from workbench import doctor
from workbench.cli import app

WORKBENCH = str(Path(sys.executable).parent / "workbench")


def test_doctor_json_on_this_machine(wb_home: Path):
    proc = subprocess.run([WORKBENCH, "doctor", "--json"], capture_output=True, text=True)
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    assert set(checks) == {
        "jupyterlab", "mlflow", "torch", "tensorflow", "mpiexec",
        "gpu", "label-studio", "chromium", "node",
    }  # fmt: skip
    assert proc.returncode == 0, proc.stdout  # everything required is installed by bootstrap
    assert checks["mpiexec"]["ok"] and "Open MPI" in checks["mpiexec"]["detail"]
    assert checks["torch"]["detail"].startswith("torch 2.")
    assert str(wb_home.resolve() / "mlflow.db") in checks["mlflow"]["detail"]
    assert "workbench-lab" in checks["jupyterlab"]["detail"]

    import torch

    assert checks["gpu"]["ok"] is torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert "no CUDA device" in checks["gpu"]["detail"]


def test_doctor_table_output(wb_home: Path):
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "mpiexec" in result.output and "torch" in result.output


def test_corrupt_mlflow_store_fails(wb_home: Path):
    wb_home.mkdir(parents=True)
    (wb_home / "mlflow.db").write_bytes(b"this is not a sqlite database" * 100)
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "missing required parts: mlflow" in result.output


def test_missing_mpiexec_is_required(wb_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(doctor, "_executable", lambda name: None)
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1
    by_name = {c["name"]: c for c in json.loads(result.output)}
    assert by_name["mpiexec"] == {
        "name": "mpiexec",
        "ok": False,
        "required": True,
        "detail": f"mpiexec not found: {doctor.INSTALL_HINT}",
    }
    assert by_name["label-studio"]["ok"] is False  # optional: reported, not fatal on its own
