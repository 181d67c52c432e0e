"""The local backend under real mpiexec: success, rank failure, cancel, timeout, retries."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.jobs.conftest import no_processes_left, spec_for, wait_for
from workbench.jobs.backends.local import mpiexec_argv
from workbench.jobs.service import JobService
from workbench.jobs.states import JobState

pytestmark = pytest.mark.mpi


def rank_pids(workdir: Path, ranks: int = 2) -> list[int]:
    """Pids the sleeper entry wrote, once every rank is up."""
    files = [workdir / f"pid-{r}" for r in range(ranks)]
    wait_for(lambda: all(f.exists() for f in files), timeout=60)
    return [int(f.read_text()) for f in files]


def gone(pids: list[int]) -> bool:
    def dead(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    return all(dead(pid) for pid in pids)


def test_two_rank_allreduce_goes_queued_running_succeeded_with_both_ranks_logs(
    service: JobService, workdir: Path
) -> None:
    job = service.submit(spec_for(workdir, "allreduce.py"))
    assert service.store.get(job.id).state in (JobState.STARTING, JobState.RUNNING)
    seen = [JobState.QUEUED]  # every job is stored queued before it is launched
    while not seen[-1].terminal:
        state = service.store.get(job.id).state
        if state != seen[-1]:
            seen.append(state)
        time.sleep(0.01)
    assert seen in (
        [JobState.QUEUED, JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED],
        [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED],
    )
    done = service.get(job.id)
    assert done.exit_codes == {0: 0, 1: 0} and done.reason is None
    assert done.started_at is not None and done.finished_at is not None
    lines = [str(line) for line in service.logs(job.id)]
    assert "[0:out] rank 0 of 2: allreduce sum 3" in lines
    assert "[1:out] rank 1 of 2: allreduce sum 3" in lines
    assert "[1:err] rank 1 stderr line" in lines
    assert sorted(p.name for p in done.log_dir.glob("rank-*")) == [
        "rank-0.err", "rank-0.exit.json", "rank-0.out", "rank-1.err", "rank-1.exit.json",
        "rank-1.out",
    ]  # fmt: skip
    assert no_processes_left(done)


def test_killed_rank_fails_the_job_within_30_s_and_stops_the_others(
    service: JobService, workdir: Path
) -> None:
    job = service.submit(spec_for(workdir, "sleeper.py"))
    pids = rank_pids(workdir)
    killed_at = time.monotonic()
    os.kill(pids[1], signal.SIGKILL)
    done = service.wait(job.id, timeout=30)
    assert time.monotonic() - killed_at < 30
    assert done.state is JobState.FAILED
    assert done.reason == "rank 1 was killed by signal 9 (SIGKILL)"
    assert done.exit_codes[1] == -signal.SIGKILL
    wait_for(lambda: gone(pids), timeout=10)
    assert no_processes_left(done)


def test_rank_exit_code_is_recorded_per_rank(service: JobService, workdir: Path) -> None:
    done = service.wait(service.submit(spec_for(workdir, "exit3.py")).id, timeout=60)
    assert done.state is JobState.FAILED
    assert done.reason == "rank 1 exited with code 3"
    assert done.exit_codes[1] == 3


def test_cancel_leaves_no_process_behind(service: JobService, workdir: Path) -> None:
    job = service.submit(spec_for(workdir, "sleeper.py"))
    pids = rank_pids(workdir)
    running = service.get(job.id)
    assert running.state is JobState.RUNNING
    sid = running.backend_ref["mpiexec"]["pid"]
    assert service.cancel(job.id).state is JobState.CANCELLING
    done = service.wait(job.id, timeout=30)  # the supervisor stops it
    assert done.state is JobState.CANCELLED and done.reason == "cancelled by request"
    assert gone([*pids, sid]) and no_processes_left(done)
    assert "rank 0 done" not in "\n".join(map(str, service.logs(job.id)))


def test_timeout_is_enforced(service: JobService, workdir: Path) -> None:
    job = service.submit(spec_for(workdir, "sleeper.py", timeout_s=2.0, retries=2))
    pids = rank_pids(workdir)
    done = service.wait(job.id, timeout=30)
    assert done.state is JobState.FAILED
    assert done.reason == "timed out after 2 s (timeout_s)"
    assert done.attempt == 1  # a timeout is not retried: the limit covers all attempts
    assert done.finished_at - done.started_at < 10  # type: ignore[operator]
    assert gone(pids) and no_processes_left(done)


def test_failed_attempt_is_retried_and_resumes_from_its_checkpoint(
    service: JobService, workdir: Path
) -> None:
    spec = spec_for(workdir, "resumable.py", retries=2, retry_backoff_s=0.2)
    spec["env"] = {"FAIL_FIRST": "1"}
    done = service.wait(service.submit(spec).id, timeout=60)
    assert done.state is JobState.SUCCEEDED, done.reason
    assert done.attempt == 2
    out = [str(line) for line in service.logs(done.id, rank=0)]
    assert out[0] == "[0:out] attempt 1 resume=- step=0"
    assert out[1] == f"[0:out] attempt 2 resume={done.checkpoint_dir}/step-5.json step=5"


def test_follow_streams_until_the_job_ends(service: JobService, workdir: Path) -> None:
    job = service.submit(spec_for(workdir, "sleeper.py", "1"))
    lines = [str(line) for line in service.logs(job.id, rank=1, follow=True)]
    assert lines == ["[1:out] rank 1 ready", "[1:out] rank 1 done"]
    assert service.get(job.id).state is JobState.SUCCEEDED


def test_mpiexec_flags_only_when_needed() -> None:
    argv = mpiexec_argv("mpiexec", 2 * (os.cpu_count() or 1))
    assert "--oversubscribe" in argv
    assert "--oversubscribe" not in mpiexec_argv("mpiexec", 1)
    assert ("--allow-run-as-root" in argv) == (os.geteuid() == 0)
