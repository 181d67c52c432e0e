"""JobRefresher: keeps remote jobs current in the store, finishes cancels, survives errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from tests.jobs.conftest import FakeSlurm, spec_for, wait_for
from workbench.jobs.backends.slurm import SlurmBackend
from workbench.jobs.logs import LogLine
from workbench.jobs.refresher import JobRefresher
from workbench.jobs.service import JobService
from workbench.jobs.spec import JobSpec
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SlurmBackend, "command_wait", wait_none())


@pytest.fixture
def refresher(service: JobService) -> Iterator[JobRefresher]:
    running = JobRefresher(service, interval=0.05).start()
    yield running
    running.stop()
    assert not running.running


def test_remote_states_reach_the_store_without_anyone_asking(
    service: JobService, refresher: JobRefresher, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    job = service.submit(spec_for(workdir, "allreduce.py", backend="slurm"))
    fake_slurm.scenario(sacct="sacct_running", squeue="squeue_running")
    wait_for(lambda: service.get(job.id).state is JobState.RUNNING)
    cancelling = service.cancel(job.id)
    assert cancelling.state is JobState.CANCELLING
    calls = len(fake_slurm.calls("sacct"))
    wait_for(lambda: len(fake_slurm.calls("sacct")) > calls + 1)  # polled while it still runs
    assert service.get(job.id).state is JobState.CANCELLING
    fake_slurm.scenario(sacct="sacct_cancelled", squeue="squeue_invalid_job")
    done = wait_for(lambda: (j := service.get(job.id)).state.terminal and j)
    assert done.state is JobState.CANCELLED and done.reason == "cancelled by request"


class _ExplodingBackend:
    name = "exploding"

    def __init__(self) -> None:
        self.refreshes = 0

    def prepare(self, spec: JobSpec) -> JobSpec:
        return spec

    def submit(self, job: JobRecord) -> JobRecord:
        return job

    def refresh(self, job: JobRecord) -> JobRecord:
        self.refreshes += 1
        raise RuntimeError("the scheduler client crashed")

    def request_cancel(self, job: JobRecord) -> None:
        return None

    def logs(self, job: JobRecord, **_: Any) -> Iterator[LogLine]:
        return iter(())


def test_the_loop_outlives_failing_refreshes_and_logs_them(
    wb_home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = _ExplodingBackend()
    service = JobService(backends={"local": backend}, recover=False)  # type: ignore[dict-item]
    spec = {"name": "x", "entry": {"kind": "module", "module": "m"}, "working_dir": str(tmp_path)}
    service.submit(spec)  # stays queued: the fake backend launches nothing
    refresher = JobRefresher(service, interval=0.01)
    with caplog.at_level(logging.ERROR, logger="workbench.jobs"):
        refresher.start()
        assert refresher.wait_cycles(3, timeout=30)
        assert refresher.running
        refresher.stop()
    assert backend.refreshes >= 3
    assert "the scheduler client crashed" in caplog.text
    with pytest.raises(ValueError, match="interval: must be > 0"):
        JobRefresher(service, interval=0)
