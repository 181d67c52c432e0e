"""Shared test fixtures: an isolated workbench home and a real-mpiexec runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.labeling.fixtures"]

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def wb_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``WORKBENCH_HOME`` for one test; nothing touches ``~/.workbench``."""
    home = tmp_path / "wbhome"
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


def mpiexec_path() -> str | None:
    """The mpiexec next to this interpreter (the venv's Open MPI wheel), else PATH's."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


def mpiexec_argv(n: int) -> list[str]:
    """argv prefix that starts ``n`` ranks on this machine, as root and past the core count."""
    exe = mpiexec_path()
    if exe is None:
        raise RuntimeError("mpiexec not found: run `make test` so the venv's Open MPI is installed")
    argv = [exe, "-n", str(n), "--oversubscribe"]
    if os.geteuid() == 0:
        argv.append("--allow-run-as-root")
    return argv


@dataclass
class MpiResult:
    returncode: int
    outputs: list[str]  # stdout of each rank, indexed by rank
    log: str  # mpiexec's own combined output (stderr of the ranks lands here)


_RANK_WRAPPER = """\
import os, runpy, sys
_rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
sys.stdout = open(os.path.join({outdir!r}, f"rank-{{_rank}}.out"), "w", buffering=1)
runpy.run_path({script!r}, run_name="__main__")
"""


@pytest.fixture
def mpirun(tmp_path: Path) -> Callable[..., MpiResult]:
    """Run a Python snippet on ``n`` real MPI ranks; returns each rank's stdout.

    ``check=True`` (the default) fails the test with mpiexec's log when any rank fails.
    """
    counter = iter(range(1_000_000))

    def run(
        code: str,
        n: int = 2,
        *,
        timeout: float = 180,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> MpiResult:
        k = next(counter)
        outdir = tmp_path / f"mpi-{k}"
        outdir.mkdir()
        script = outdir / "snippet.py"
        script.write_text(textwrap.dedent(code))
        wrapper = outdir / "wrapper.py"
        wrapper.write_text(_RANK_WRAPPER.format(outdir=str(outdir), script=str(script)))
        full_env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        full_env.setdefault("OMPI_MCA_osc", "^ucx")  # its one-sided component only logs errors
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), full_env.get("PYTHONPATH", "")) if p
        )
        full_env.update(env or {})
        proc = subprocess.run(
            [*mpiexec_argv(n), sys.executable, str(wrapper)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            cwd=str(outdir),
        )
        outputs = []
        for rank in range(n):
            out = outdir / f"rank-{rank}.out"
            outputs.append(out.read_text() if out.exists() else "")
        result = MpiResult(proc.returncode, outputs, proc.stdout + proc.stderr)
        if check and proc.returncode != 0:
            pytest.fail(f"mpiexec -n {n} exited {proc.returncode}:\n{result.log[-4000:]}")
        return result

    return run
