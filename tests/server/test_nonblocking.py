"""The server stays responsive while schedulers are slow, and cancel answers at once."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.jobs.conftest import FakeSlurm

SLOW_S = 5.0
# Ignores SIGTERM: the supervisor has to wait out its grace period and SIGKILL it.
STUBBORN = """
import os, signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
from mpi4py import MPI
rank = MPI.COMM_WORLD.rank
open(f"ready-{rank}", "w").close()
time.sleep(300)
"""


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": {"workbench.server": True}},
        "WorkbenchExtension": {"jobs_refresh_interval": 0.1},
    }


@pytest.fixture
def workdir(jp_root_dir: Path) -> Path:
    wd = jp_root_dir / "work"  # REST jobs run under the Jupyter root
    wd.mkdir()
    (wd / "train.py").write_text("print('hi')\n")
    (wd / "stubborn.py").write_text(textwrap.dedent(STUBBORN))
    return wd


async def _json(jp_fetch, *parts, **kwargs):
    response = await jp_fetch("workbench", "api", *parts, **kwargs)
    return response.code, json.loads(response.body)


async def _poll(condition, timeout: float = 60.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while not (value := await condition()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(interval)
    return value


async def _timed(request) -> tuple[float, object]:
    started = time.monotonic()
    response = await request
    return time.monotonic() - started, response


async def test_version_answers_at_once_while_slurm_takes_5s(
    jp_fetch, wb_home: Path, workdir: Path, fake_slurm: FakeSlurm
):
    spec = {"name": "s", "entry": {"kind": "script", "path": "train.py"}, "backend": "slurm",
            "working_dir": str(workdir)}  # fmt: skip
    code, job = await _json(jp_fetch, "jobs", method="POST", body=json.dumps(spec))
    assert code == 201 and job["state"] == "starting"
    fake_slurm.scenario(sacct="sacct_running", squeue="squeue_running")
    await _poll(lambda: _state(jp_fetch, job["id"], "running"))  # the refresher saw it
    fake_slurm.delay(sacct=SLOW_S, squeue=SLOW_S, scancel=SLOW_S)
    polls = len(fake_slurm.calls("sacct"))
    await _poll(_async(lambda: len(fake_slurm.calls("sacct")) > polls))  # a slow sacct runs

    listing = asyncio.ensure_future(_timed(_json(jp_fetch, "jobs")))
    cancel = asyncio.ensure_future(
        _timed(_json(jp_fetch, "jobs", job["id"], "cancel", method="POST", body=b""))
    )
    await _poll(_async(lambda: fake_slurm.calls("scancel")))  # the cancel waits on scancel
    latencies = [(await _timed(jp_fetch("workbench", "api", "version")))[0] for _ in range(5)]
    print(f"version latency under a {SLOW_S:g} s scheduler: {[f'{x:.4f}' for x in latencies]}")
    assert max(latencies) < 0.1, latencies
    assert not cancel.done()
    list_s, (_, listed) = await listing
    print(f"GET jobs while the refresher waits on sacct: {list_s:.4f} s")
    assert list_s < 1.0 and [j["state"] for j in listed["jobs"]] in (["running"], ["cancelling"])

    _, (code, cancelling) = await cancel
    assert code == 202 and cancelling["state"] == "cancelling" and cancelling["cancel_requested"]
    fake_slurm.delay()
    fake_slurm.scenario(sacct="sacct_cancelled", squeue="squeue_invalid_job")
    await _poll(lambda: _state(jp_fetch, job["id"], "cancelled"))


@pytest.mark.mpi
async def test_cancel_of_a_long_local_job_answers_cancelling_then_it_ends_cancelled(
    jp_fetch, wb_home: Path, workdir: Path
):
    spec = {"name": "long", "entry": {"kind": "script", "path": "stubborn.py"}, "ranks": 2,
            "working_dir": str(workdir)}  # fmt: skip
    _, job = await _json(jp_fetch, "jobs", method="POST", body=json.dumps(spec))
    await _poll(_async(lambda: all((workdir / f"ready-{r}").exists() for r in range(2))))
    await _poll(lambda: _state(jp_fetch, job["id"], "running"))
    took, (code, cancelling) = await _timed(
        _json(jp_fetch, "jobs", job["id"], "cancel", method="POST", body=b"")
    )
    print(f"POST cancel of a local job answered in {took:.4f} s")
    assert code == 202 and cancelling["state"] == "cancelling", cancelling
    assert took < 1.0, took  # the ranks ignore SIGTERM: stopping them takes the 5 s grace
    done = await _poll(lambda: _state(jp_fetch, job["id"], "cancelled"), timeout=60)
    assert done["reason"] == "cancelled by request"


async def _state(jp_fetch, job_id: str, wanted: str):
    _, job = await _json(jp_fetch, "jobs", job_id)
    assert job["state"] in (wanted, "queued", "starting", "running", "cancelling"), job
    return job if job["state"] == wanted else None


def _async(predicate):
    async def check():
        return predicate()

    return check
