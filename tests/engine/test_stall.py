"""Stall detection: a late rank is named in a warning then aborts the job; a killed rank
makes the survivors fail within seconds instead of hanging."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, mpiexec_argv
from workbench.engine.errors import UnsafeDirectoryError
from workbench.engine.stall import (
    STALL_EXIT_CODE,
    Peer,
    StallWatchdog,
    board_directory,
    process_alive,
    runtime_dir,
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


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XDG_RUNTIME_DIR for this test; boards go to ``<it>/workbench-stall``."""
    xdg = tmp_path / "run"
    xdg.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    return xdg / "workbench-stall"


def _private_to_me(path: Path) -> bool:
    st = path.lstat()
    return (
        stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) == 0o700
    )


@pytest.mark.mpi
def test_killed_rank_makes_the_others_fail_fast(tmp_path, runtime):
    started = time.monotonic()
    rc, log = run_ranks(tmp_path, KILLED_RANK, {}, recovery=True)
    elapsed = time.monotonic() - started
    assert rc != 0 and elapsed < 30, (elapsed, log)
    assert "StallError: rank 1 (pid" in log and "died while rank 0 waited" in log, log
    assert "not reached" not in log
    assert _private_to_me(runtime)  # the ranks kept their board in our private dir ...
    assert list(runtime.iterdir()) == []  # ... and the survivor cleared it


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_boards_of_dead_jobs_are_swept_from_our_dir_only(tmp_path, runtime):
    dead = _dead_pid()
    ours = runtime_dir()
    gone, live = ours / f"h-{dead}-abc", ours / f"h-{os.getpid()}-def"
    other_host = ours / f"x-{dead}-abc"
    shared = tmp_path / "shared-tmp" / f"h-{dead}-abc"  # e.g. another user's, in /tmp
    for board in (gone, live, other_host, shared):
        board.mkdir(parents=True)
        (board / "rank0.json").write_text("{}")
    (gone / "rank1.123.tmp").write_text("{")  # a write cut short by SIGKILL
    assert sweep_stale_boards("h") == 1
    assert not gone.exists() and live.exists() and other_host.exists()
    assert (shared / "rank0.json").exists()  # not ours to judge, not looked at


def test_runtime_dir_is_private_in_xdg_runtime_dir(runtime):
    assert runtime_dir() == runtime and _private_to_me(runtime)


def test_runtime_dir_falls_back_to_a_private_dir_under_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    shared_xdg = tmp_path / "xdg-shared"
    shared_xdg.mkdir()
    shared_xdg.chmod(0o777)  # others may write there: not trusted
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared_xdg))
    old = os.umask(0)  # a permissive umask must not widen the modes
    try:
        found = runtime_dir()
    finally:
        os.umask(old)
    assert found == tmp_path / f"workbench-{os.getuid()}" / "stall"
    assert _private_to_me(found) and _private_to_me(found.parent)


def test_a_dir_others_may_write_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    planted = tmp_path / f"workbench-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(UnsafeDirectoryError, match=f"{planted} must be a directory owned by"):
        runtime_dir()
    planted.rmdir()
    planted.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    with pytest.raises(UnsafeDirectoryError, match="not a symlink"):
        runtime_dir()


def test_status_files_are_0600_whatever_the_umask(runtime):
    me = Peer(0, "h", os.getpid())
    board = board_directory([me], "tok")
    old = os.umask(0)
    try:
        dog = StallWatchdog(0, [me], board, interval_s=60)
        dog._publish()
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in board.iterdir()}
        assert modes == {"rank0.json": 0o600}
        assert board.parent == runtime and stat.S_IMODE(board.stat().st_mode) == 0o700
    finally:
        os.umask(old)
        dog.stop()


def test_watchdog_warns_with_what_peers_do(tmp_path, runtime, caplog):
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


def test_a_patient_wait_neither_warns_nor_times_out(tmp_path, runtime, caplog):
    me = Peer(0, "h", os.getpid())
    dog = StallWatchdog(0, [me], tmp_path, warning_s=0.0, timeout_s=0.001, interval_s=60)
    dog.enter("join (this rank has joined)", patient=True)
    time.sleep(0.01)
    dog.check()  # would abort the process if the wait counted
    dog.leave()
    dog.stop()
    assert "has waited" not in caplog.text
