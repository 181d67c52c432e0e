"""Fixtures for the jobs tests: a service on a fresh home, entry scripts, scheduler fakes."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.fake_kube import FakeKubeServer
from workbench.errors import WorkbenchError
from workbench.jobs.processes import session_pids
from workbench.jobs.service import JobService

HERE = Path(__file__).resolve().parent

# Entry scripts. allreduce.py runs a real engine collective on every rank.
SCRIPTS = {
    "allreduce.py": """
        import sys
        import numpy as np
        import workbench.engine as wb
        wb.init()
        total = wb.allreduce(np.full(4, wb.rank() + 1.0), op="sum")
        print(f"rank {wb.rank()} of {wb.size()}: allreduce sum {int(total[0])}", flush=True)
        print(f"rank {wb.rank()} stderr line", file=sys.stderr)
        wb.shutdown()
    """,
    # Writes pid-<rank> once MPI is up, then waits to be killed or cancelled.
    "sleeper.py": """
        import os, sys, time
        from mpi4py import MPI
        rank = MPI.COMM_WORLD.rank
        with open(f"pid-{rank}.tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(f"pid-{rank}.tmp", f"pid-{rank}")
        print(f"rank {rank} ready", flush=True)
        time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 120)
        print(f"rank {rank} done", flush=True)
    """,
    # Fails on its first attempt after writing a checkpoint; resumes from it on the next.
    "resumable.py": """
        import json, os, sys
        ckpt = os.environ["WORKBENCH_CHECKPOINT_DIR"]
        resume = os.environ.get("WORKBENCH_RESUME_FROM", "")
        attempt = os.environ["WORKBENCH_ATTEMPT"]
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
        step = json.load(open(resume))["step"] if resume else 0
        print(f"attempt {attempt} resume={resume or '-'} step={step}", flush=True)
        if rank == 0:
            with open(os.path.join(ckpt, f"step-{step + 5}.json"), "w") as f:
                json.dump({"step": step + 5}, f)
            with open(os.path.join(ckpt, "LATEST.tmp"), "w") as f:
                f.write(f"step-{step + 5}.json")
            os.replace(os.path.join(ckpt, "LATEST.tmp"), os.path.join(ckpt, "LATEST"))
        sys.exit(3 if step == 0 and os.environ.get("FAIL_FIRST") else 0)
    """,
    "exit3.py": """
        import os, sys
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", "0"))
        print(f"rank {rank} exiting with {3 if rank == 1 else 0}", flush=True)
        sys.exit(3 if rank == 1 else 0)
    """,
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A working directory holding the entry scripts."""
    wd = tmp_path / "work"
    wd.mkdir()
    for name, code in SCRIPTS.items():
        (wd / name).write_text(textwrap.dedent(code))
    return wd


def spec_for(workdir: Path, script: str, *args: str, **fields: Any) -> dict[str, Any]:
    entry = {"kind": "script", "path": script, "args": list(args)}
    return {"name": "test", "entry": entry, "ranks": 2, "working_dir": str(workdir), **fields}


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def no_processes_left(job: Any) -> bool:
    launcher = job.backend_ref.get("mpiexec")
    return launcher is None or not session_pids(launcher["pid"])


@pytest.fixture
def service(wb_home: Path) -> Iterator[JobService]:
    """A JobService on a fresh home; local jobs a test leaves running are cancelled after it."""
    svc = JobService()
    yield svc
    for job in svc.store.active(backend="local"):
        with contextlib.suppress(WorkbenchError):
            svc.cancel(job.id)
            svc.wait(job.id, timeout=30)
    svc.store.close()


class FakeSlurm:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir

    def scenario(self, **tools: str | list[str]) -> None:
        """Set the recordings some tools replay from now on (the others keep theirs)."""
        for path in self.dir.glob("*.count"):
            path.unlink()
        current = self.dir / "scenario.json"
        merged = json.loads(current.read_text()) if current.exists() else {}
        current.write_text(json.dumps({**merged, **tools}))

    def delay(self, **seconds: float) -> None:
        """Make these tools take that many seconds to answer from now on."""
        (self.dir / "delays.json").write_text(json.dumps(seconds))

    def calls(self, tool: str | None = None) -> list[list[str]]:
        path = self.dir / "calls.jsonl"
        rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [r["argv"] for r in rows if tool is None or r["tool"] == tool]

    def script(self) -> str:
        return (self.dir / "submitted.sbatch").read_text()


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    """sbatch/squeue/sacct/scancel on PATH that replay recorded Slurm output."""
    bin_dir, state_dir = tmp_path / "slurm-bin", tmp_path / "slurm-state"
    bin_dir.mkdir()
    state_dir.mkdir()
    code = (HERE / "fake_slurm.py").read_text()
    for tool in ("sbatch", "squeue", "sacct", "scancel"):
        exe = bin_dir / tool
        exe.write_text(f"#!{sys.executable}\n{code}")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state_dir))
    monkeypatch.setenv("FAKE_SLURM_RECORDINGS", str(HERE / "fixtures" / "slurm"))
    fake = FakeSlurm(state_dir)
    fake.scenario(
        sbatch="sbatch_parsable", squeue="squeue_pending", sacct="sacct_none", scancel="scancel_ok"
    )
    return fake


@pytest.fixture
def fake_kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeServer]:
    """A recorded Kubernetes API on loopback, with KUBECONFIG pointing at it."""
    server = FakeKubeServer().start()
    monkeypatch.setenv("KUBECONFIG", str(server.kubeconfig(tmp_path / "kubeconfig")))
    yield server
    server.stop()
