"""`workbench doctor`: which parts of the workbench are available on this machine.

Each check is a plain function returning a :class:`Check`. Checks never raise; a
failure becomes ``ok=False`` with a detail that says what to do about it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench.config import get_settings

INSTALL_HINT = "run `make lab` (or `make test`) from the repository to install it"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    required: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _dist_version(*names: str) -> str | None:
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _first_line(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (proc.stdout or proc.stderr).strip().splitlines()
    return lines[0].strip() if proc.returncode == 0 and lines else None


def _executable(name: str) -> str | None:
    """An executable beside this interpreter (the venv) first, then on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def check_torch() -> Check:
    version = _dist_version("torch")
    detail = f"torch {version}" if version else f"torch is not installed: {INSTALL_HINT}"
    return Check("torch", version is not None, True, detail)


def check_tensorflow() -> Check:
    version = _dist_version("tensorflow-cpu", "tensorflow")
    keras = _dist_version("keras")
    if version is None:
        return Check("tensorflow", False, False, "tensorflow not installed (Keras models off)")
    return Check("tensorflow", True, False, f"tensorflow {version}, keras {keras}")


def check_mpiexec() -> Check:
    exe = _executable("mpiexec")
    if exe is None:
        return Check("mpiexec", False, True, f"mpiexec not found: {INSTALL_HINT}")
    version = _first_line([exe, "--version"]) or "version unknown"
    return Check("mpiexec", True, True, f"{version} ({exe})")


def check_gpu() -> Check:
    if importlib.util.find_spec("torch") is None:
        return Check("gpu", False, False, "unknown: torch is not installed")
    import torch

    if not torch.cuda.is_available():
        return Check("gpu", False, False, "no CUDA device visible (CPU-only training)")
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return Check("gpu", True, False, f"{len(names)} x {', '.join(sorted(set(names)))}")


def check_label_studio() -> Check:
    exe = _executable("label-studio")
    version = _dist_version("label-studio")
    if exe is None or version is None:
        return Check("label-studio", False, False, "label-studio not installed (labeling off)")
    from workbench.labeling.server import LabelStudioServer

    try:
        status = LabelStudioServer().status()
    except Exception as exc:  # a check reports, never raises
        return Check("label-studio", False, False, f"label-studio {version}: {exc}")
    if status.running:
        where = "managed" if status.managed else "external"
        return Check("label-studio", True, False, f"label-studio {version}, {where}, {status.url}")
    if not status.managed:
        return Check("label-studio", False, False, f"external Label Studio {status.url} is down")
    return Check(
        "label-studio", True, False, f"label-studio {version}, stopped: `workbench label start`"
    )


def check_mlflow_store() -> Check:
    settings = get_settings()
    uri = settings.mlflow_tracking_uri
    version = _dist_version("mlflow")
    if version is None:
        return Check("mlflow", False, True, f"mlflow is not installed: {INSTALL_HINT}")
    db = settings.mlflow_db_path
    if db is None:
        return Check("mlflow", True, True, f"mlflow {version}, remote store {uri}")
    if db.exists():
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            return Check("mlflow", False, True, f"store {db} is unreadable: {exc}")
        return Check("mlflow", True, True, f"mlflow {version}, store {uri}")
    parent = next((p for p in db.parents if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        return Check("mlflow", False, True, f"cannot create store {db}: {parent} not writable")
    return Check("mlflow", True, True, f"mlflow {version}, store {uri} (created on first run)")


def check_jupyterlab() -> Check:
    version = _dist_version("jupyterlab")
    if version is None:
        return Check("jupyterlab", False, True, f"jupyterlab is not installed: {INSTALL_HINT}")
    from jupyter_core.paths import jupyter_path

    found = [
        Path(p) / "workbench-lab"
        for p in jupyter_path("labextensions")
        if (Path(p) / "workbench-lab" / "package.json").exists()
    ]
    if not found:
        return Check(
            "jupyterlab", False, True, f"workbench-lab extension not built: {INSTALL_HINT}"
        )
    return Check("jupyterlab", True, True, f"jupyterlab {version}, workbench-lab at {found[0]}")


def check_chromium() -> Check:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    version = _first_line([exe, "--version"]) if exe else None
    if version is None:
        return Check("chromium", False, False, "chromium not found (browser tests only)")
    return Check("chromium", True, False, version)


def check_node() -> Check:
    version = _first_line(["node", "--version"]) if shutil.which("node") else None
    if version is None:
        return Check("node", False, False, "node not found (only needed to rebuild the extension)")
    return Check("node", True, False, f"node {version}")


CHECKS: list[Callable[[], Check]] = [
    check_jupyterlab,
    check_mlflow_store,
    check_torch,
    check_tensorflow,
    check_mpiexec,
    check_gpu,
    check_label_studio,
    check_chromium,
    check_node,
]


def run_checks() -> list[Check]:
    return [check() for check in CHECKS]
