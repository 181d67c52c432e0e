"""Stall detection: a late rank is named in a warning then aborts the job; a killed rank
makes the survivors fail within seconds instead of hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, mpiexec_argv
from workbench.engine.stall import (
    STALL_EXIT_CODE,
    Peer,
    StallWatchdog,
    process_alive,
    sweep_stale_boards,
)

LATE_RANK = """
import time
import numpy as np
import workbench.engine as wb
wb.init()
wb.allreduce(np.ones(4), name="warmup")
if wb.rank() == 1:
    time.sleep(30)
wb.allreduce(np.ones(4), name="late")
"""

KILLED_RANK = """
import os, signal, sys
import numpy as np
import workbench.engine as wb
wb.init()
wb.allreduce(np.ones(4), name="warmup")
if wb.rank() == 1:
    os.kill(os.getpid(), signal.SIGKILL)
wb.allreduce(np.ones(4), name="after")
print("not reached", flush=True)
"""


def run_ranks(
    tmp_path: Path, code: str, env: dict[str, str], *, recovery: bool = False
) -> tuple[int, str]:
    """2 ranks; ``recovery``: mpiexec ``--enable-recovery`` keeps survivors running when a
    rank dies, so only the engine's own detection can end them."""
    script = tmp_path / "snippet.py"
    script.write_text(code)
    full_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMPI_MCA_osc": "^ucx", **env}
    argv = [*mpiexec_argv(2), *(["--enable-recovery"] if recovery else []), sys.executable]
    proc = subprocess.run(
        [*argv, str(script)], capture_output=True, text=True, env=full_env, timeout=60
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.mpi
def test_late_rank_is_named_then_the_job_aborts(tmp_path):
    env = {"WORKBENCH_STALL_WARNING": "1", "WORKBENCH_STALL_TIMEOUT": "4"}
    started = time.monotonic()
    rc, log = run_ranks(tmp_path, LATE_RANK, env)
    assert rc != 0 and time.monotonic() - started < 25, log
    assert "stall: rank 0 has waited" in log and "'late'" in log, log
    assert "rank 1: did not submit it; in no collective" in log, log
    assert "StallError: rank 0 waited" in log and "WORKBENCH_STALL_TIMEOUT=4" in log, log


@pytest.mark.mpi
def test_killed_rank_makes_the_others_fail_fast(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    started = time.monotonic()
    rc, log = run_ranks(tmp_path, KILLED_RANK, {"TMPDIR": str(temp)}, recovery=True)
    elapsed = time.monotonic() - started
    assert rc != 0 and elapsed < 30, (elapsed, log)
    assert "StallError: rank 1 (pid" in log and "died while rank 0 waited" in log, log
    assert "not reached" not in log
    assert list(temp.glob("workbench-stall-*")) == []  # the survivor cleared the board


def test_boards_of_dead_jobs_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    gone = tmp_path / f"workbench-stall-h-{int(dead.stdout)}-abc"
    live = tmp_path / f"workbench-stall-h-{os.getpid()}-def"
    other_host = tmp_path / f"workbench-stall-x-{int(dead.stdout)}-abc"
    for board in (gone, live, other_host):
        board.mkdir()
        (board / "rank0.json").write_text("{}")
    (gone / "rank1.123.tmp").write_text("{")  # a write cut short by SIGKILL
    assert sweep_stale_boards("h", tmp_path) == 1
    assert not gone.exists() and live.exists() and other_host.exists()


def test_watchdog_warns_with_what_peers_do(tmp_path, caplog):
    me, peer = Peer(0, "h", os.getpid()), Peer(1, "other-host", 1)
    dog = StallWatchdog(0, [me, peer], tmp_path, warning_s=0.0, timeout_s=0.0, interval_s=60)
    status = {"in": "barrier 'b'", "since": time.time(), "last": "", "last_end": 0}
    (tmp_path / "rank1.json").write_text(json.dumps(status))
    dog.enter("allreduce 'x'")
    dog.check()
    dog.leave()
    dog.stop()
    assert "rank 0 has waited" in caplog.text and "allreduce 'x'" in caplog.text
    assert "rank 1: did not submit it; waiting in barrier 'b'" in caplog.text
    assert process_alive(os.getpid()) and STALL_EXIT_CODE == 75


def test_a_patient_wait_neither_warns_nor_times_out(tmp_path, caplog):
    me = Peer(0, "h", os.getpid())
    dog = StallWatchdog(0, [me], tmp_path, warning_s=0.0, timeout_s=0.001, interval_s=60)
    dog.enter("join (this rank has joined)", patient=True)
    time.sleep(0.01)
    dog.check()  # would abort the process if the wait counted
    dog.leave()
    dog.stop()
    assert "has waited" not in caplog.text
