"""JobService: restart recovery, manual retry with resume, errors, listing."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.jobs.conftest import no_processes_left, spec_for, wait_for
from workbench.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from workbench.jobs.logs import LogLine
from workbench.jobs.processes import ProcessId, terminate_session
from workbench.jobs.service import JobService
from workbench.jobs.spec import JobSpec
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord


def _pid_files(workdir: Path, ranks: int = 2) -> None:
    wait_for(lambda: all((workdir / f"pid-{r}").exists() for r in range(ranks)), timeout=60)


@pytest.mark.mpi
def test_restart_keeps_every_job_and_reattaches_to_live_ones(
    service: JobService, workdir: Path
) -> None:
    finished = service.wait(service.submit(spec_for(workdir, "allreduce.py")).id, timeout=60)
    failed = service.wait(service.submit(spec_for(workdir, "exit3.py")).id, timeout=60)
    live = service.submit(spec_for(workdir, "sleeper.py", "3"))
    _pid_files(workdir)
    before = {j.id: j for j in service.store.list()}
    supervisor = service.get(live.id).supervisor

    restarted = JobService()  # a new server process would do exactly this
    after = {j.id: j for j in restarted.store.list()}
    assert after == before  # nothing lost, nothing changed by recovery
    assert restarted.get(live.id).supervisor == supervisor  # re-attached, not replaced
    assert restarted.get(finished.id).exit_codes == {0: 0, 1: 0}
    assert restarted.get(failed.id).reason == "rank 1 exited with code 3"
    done = restarted.wait(live.id, timeout=60)
    assert done.state is JobState.SUCCEEDED and done.exit_codes == {0: 0, 1: 0}


@pytest.mark.mpi
def test_job_whose_supervisor_died_is_adopted_and_finishes(
    service: JobService, workdir: Path
) -> None:
    job = service.submit(spec_for(workdir, "sleeper.py", "2"))
    _pid_files(workdir)
    old = service.get(job.id).supervisor
    assert old is not None
    os.kill(old["pid"], signal.SIGKILL)
    wait_for(lambda: not ProcessId.from_dict(old).alive())

    restarted = JobService()
    adopted = wait_for(lambda: restarted.store.get(job.id).supervisor != old)
    assert adopted
    done = restarted.wait(job.id, timeout=60)
    assert done.state is JobState.SUCCEEDED, done.reason
    assert done.exit_codes == {0: 0, 1: 0}
    assert no_processes_left(done)


@pytest.mark.mpi
def test_job_that_died_while_nobody_watched_is_marked_failed_with_the_reason(
    service: JobService, workdir: Path
) -> None:
    job = service.submit(spec_for(workdir, "sleeper.py"))
    _pid_files(workdir)
    running = service.get(job.id)
    assert running.supervisor is not None
    os.kill(running.supervisor["pid"], signal.SIGKILL)
    terminate_session(ProcessId.from_dict(running.backend_ref["mpiexec"]), grace_s=0.0)

    marked = JobService().store.get(job.id)  # start-up recovery marked it
    assert marked.state is JobState.FAILED
    assert marked.reason is not None
    assert marked.reason.startswith(f"supervisor (pid {running.supervisor['pid']}) and mpiexec")
    assert "gone while no one watched" in marked.reason


def test_reused_pids_are_not_mistaken_for_the_job(service: JobService, tmp_path: Path) -> None:
    """A stored pid that now belongs to another process (this test) is recognised as reuse."""
    me = psutil.Process()
    stranger = {"pid": me.pid, "started": me.create_time() - 3600.0}
    job = _stored_running_job(service, tmp_path, supervisor=stranger, mpiexec=stranger)
    # recovery must not treat the test process as the job's (and must not signal it)
    marked = JobService().store.get(job.id)
    assert marked.state is JobState.FAILED
    assert f"supervisor (pid {me.pid})" in (marked.reason or "")
    assert psutil.pid_exists(me.pid)


def _stored_running_job(service: JobService, tmp_path: Path, **refs: dict[str, Any]) -> JobRecord:
    from workbench.jobs.store import NewJob, new_job_id

    spec = JobSpec.model_validate(
        {"name": "ghost", "entry": {"kind": "module", "module": "m"}, "working_dir": "/"}
    )
    job_id = new_job_id()
    record = service.store.insert(
        NewJob(job_id, "ghost", "local", 1, spec.model_dump(mode="json"), tmp_path / job_id)
    )
    service.store.transition(record.id, JobState.STARTING, supervisor=refs["supervisor"])
    return service.store.transition(
        record.id, JobState.RUNNING, backend_ref={"mpiexec": refs["mpiexec"]}
    )


@pytest.mark.mpi
def test_manual_retry_resumes_from_the_failed_jobs_checkpoint(
    service: JobService, workdir: Path
) -> None:
    spec = spec_for(workdir, "resumable.py", env={"FAIL_FIRST": "1"}, checkpoint_dir="ckpt")
    first = service.wait(service.submit(spec).id, timeout=60)
    assert first.state is JobState.FAILED
    assert first.reason in ("rank 0 exited with code 3", "rank 1 exited with code 3")
    assert first.checkpoint_dir == str(workdir / "ckpt")

    second = service.wait(service.retry(first.id).id, timeout=60)
    assert second.state is JobState.SUCCEEDED, second.reason
    assert second.retry_of == first.id and second.checkpoint_dir == first.checkpoint_dir
    out = [line.text for line in service.logs(second.id, rank=0)]
    assert out == [f"attempt 1 resume={workdir}/ckpt/step-5.json step=5"]


def test_errors_are_specific(service: JobService, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no job with id 'nope'"):
        service.get("nope")
    with pytest.raises(InvalidInput, match="state: must be one of"):
        service.list(state="sleeping")
    with pytest.raises(InvalidInput, match="limit: must be between"):
        service.list(limit=0)
    reused = {"pid": 1, "started": 0.0}  # pid 1 is init, started long after the epoch
    ghost = _stored_running_job(service, tmp_path, supervisor=reused, mpiexec=reused)
    with pytest.raises(InvalidInput, match="rank: must be between 0 and 0"):
        service.logs(ghost.id, rank=5)
    with pytest.raises(Conflict, match="only a finished job can be retried"):
        service.retry(ghost.id)
    service.store.transition(ghost.id, JobState.FAILED, reason="x")
    with pytest.raises(Conflict, match="already failed; nothing to cancel"):
        service.cancel(ghost.id)


class _BrokenBackend:
    name = "broken"

    def prepare(self, spec: JobSpec) -> JobSpec:
        return spec

    def submit(self, job: JobRecord) -> JobRecord:
        raise ServiceUnavailable("the scheduler is down")

    def refresh(self, job: JobRecord) -> JobRecord:
        return job

    def request_cancel(self, job: JobRecord) -> None:
        return None

    def logs(self, job: JobRecord, **_: Any) -> Iterator[LogLine]:
        return iter(())


def test_a_failed_submission_is_recorded_as_failed(wb_home: Path, tmp_path: Path) -> None:
    service = JobService(backends={"local": _BrokenBackend()})  # type: ignore[dict-item]
    spec = {"name": "x", "entry": {"kind": "module", "module": "m"}, "working_dir": str(tmp_path)}
    with pytest.raises(ServiceUnavailable, match="the scheduler is down"):
        service.submit(spec)
    [job] = service.list()
    assert job.state is JobState.FAILED
    assert job.reason == "submission failed: the scheduler is down"


def test_list_is_newest_first_and_filters(service: JobService, tmp_path: Path) -> None:
    dead = {"pid": 999_999_999, "started": 0.0}
    ids = [
        _stored_running_job(service, tmp_path, supervisor=dead, mpiexec=dead).id for _ in range(3)
    ]
    service.store.transition(ids[0], JobState.SUCCEEDED)
    time.sleep(0.01)
    assert [j.id for j in service.list()] == ids[::-1]
    assert [j.id for j in service.list(state="running")] == ids[:0:-1]
    assert [j.id for j in service.list(limit=1, offset=2)] == ids[:1]
