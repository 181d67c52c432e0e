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
def workdir(jp_root_dir: Path) -> Path:
    wd = jp_root_dir / "work"
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


def _script(**fields: object) -> bytes:
    return json.dumps({"name": "x", "entry": {"kind": "script", "path": "t.py"}, **fields}).encode()


def _manifest_at(path: str, **fields: object) -> bytes:
    data = {"source": "manifest", "path": path}
    training = {"name": "x", "model": {"name": "mlp"}, "data": data, **fields}
    return json.dumps({"name": "t", "entry": {"kind": "training", "spec": training}}).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_script(working_dir="/etc"), "working_dir: '/etc' is outside the Jupyter root"),
        (_script(working_dir="../.."), "working_dir: '../..' is outside the Jupyter root"),
        (_script(working_dir=7), "working_dir: must be a path"),
        (_script(checkpoint_dir="../../x"), "checkpoint_dir: must stay inside working_dir"),
        (_script(checkpoint_dir="/tmp/x"), "checkpoint_dir: must be a relative path"),
        (_manifest_at("/etc/passwd"), "entry.spec.data.path: '/etc/passwd' is outside"),
        (_manifest_at("../x"), "entry.spec.data.path: '../x' is outside the Jupyter root"),
        (
            _manifest_at("m.json", checkpoint_dir="../x"),
            "entry.spec.checkpoint_dir: '../x' is outside working_dir",
        ),
        (
            _manifest_at("m.json", checkpoint_dir="/tmp/ck"),
            "entry.spec.checkpoint_dir: must be relative to working_dir",
        ),
    ],
)
async def test_paths_outside_the_root_are_400_and_store_nothing(
    jp_fetch, wb_home: Path, body, message
):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", method="POST", body=body)
    assert err.value.code == 400
    answer = json.loads(err.value.response.body)["message"]
    assert message in answer and "root:" not in answer  # nothing of /etc/passwd is shown
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
