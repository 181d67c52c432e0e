"""The jobs REST API through a real Jupyter server and real mpiexec ranks."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

SCRIPT = """
import numpy as np
import workbench.engine as wb
wb.init()
total = wb.allreduce(np.full(3, wb.rank() + 1.0))
print(f"rank {wb.rank()}: sum {int(total[0])}", flush=True)
wb.shutdown()
"""


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    wd = tmp_path / "work"
    wd.mkdir()
    (wd / "train.py").write_text(textwrap.dedent(SCRIPT))
    return wd


async def _json(jp_fetch, *parts, **kwargs):
    response = await jp_fetch("workbench", "api", *parts, **kwargs)
    return response.code, json.loads(response.body)


def _training(spec: dict) -> bytes:
    return json.dumps({"name": "t", "entry": {"kind": "training", "spec": spec}}).encode()


@pytest.mark.mpi
async def test_submit_watch_and_read_logs(jp_fetch, wb_home: Path, workdir: Path):
    spec = {
        "name": "ring",
        "entry": {"kind": "script", "path": "train.py"},
        "ranks": 2,
        "working_dir": str(workdir),
    }
    code, job = await _json(jp_fetch, "jobs", method="POST", body=json.dumps(spec))
    assert code == 201 and job["name"] == "ring" and job["ranks"] == 2
    for _ in range(300):
        code, job = await _json(jp_fetch, "jobs", job["id"])
        if job["state"] in ("succeeded", "failed", "cancelled", "lost"):
            break
        await asyncio.sleep(0.1)
    assert job["state"] == "succeeded", job
    _, listed = await _json(jp_fetch, "jobs")
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    _, logs = await _json(jp_fetch, "jobs", job["id"], "logs", params={"rank": "1"})
    assert {"rank": 1, "stream": "stdout", "text": "rank 1: sum 3"} in logs["lines"]
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", job["id"], "cancel", method="POST", body=b"")
    assert err.value.code == 409  # already finished


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "request body is not JSON"),
        (
            json.dumps(
                {"name": "x", "entry": {"kind": "script", "path": "t.py"}, "ranks": 0}
            ).encode(),
            "ranks",
        ),
        (_training({"name": "x", "model": {"name": "nope"}}), "unknown model 'nope'"),
        (
            _training({"name": "x", "model": {"name": "small_cnn", "params": {"width": -3}}}),
            "width",
        ),
        (
            _training({"name": "x", "model": {"name": "mlp"}, "data": {"dataset": "gone@v1"}}),
            "dataset 'gone' does not exist",
        ),
        (
            _training({"name": "x", "model": {"name": "mlp"}, "train": {"epochs": 0}}),
            "train.epochs",
        ),
    ],
)
async def test_bad_specs_are_400_and_store_nothing(jp_fetch, wb_home: Path, body, message):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", method="POST", body=body)
    assert err.value.code == 400
    assert message in json.loads(err.value.response.body)["message"]
    _, listed = await _json(jp_fetch, "jobs")
    assert listed["jobs"] == []


async def test_unknown_job_is_404_and_bad_query_is_400(jp_fetch, wb_home: Path):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", "0123456789abcdef")
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", params={"limit": "many"})
    assert err.value.code == 400
    assert "limit: must be an integer" in json.loads(err.value.response.body)["message"]


async def test_jobs_need_a_token(jp_fetch, wb_home: Path):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", headers={"Authorization": ""})
    assert err.value.code == 403
