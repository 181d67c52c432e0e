"""The jobs REST API through a real Jupyter server and real mpiexec ranks."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
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


# Prints one line, waits (the stream is open by then), prints more: follow mode must deliver
# the first line long before the last, and end when the job does.
STREAMED = """
import os, sys, time
rank = int(os.environ["OMPI_COMM_WORLD_RANK"])
print(f"rank {rank} early", flush=True)
time.sleep(3)
for i in range(3):
    print(f"rank {rank} late {i}", flush=True)
    time.sleep(0.1)
print(f"rank {rank} to stderr", file=sys.stderr, flush=True)
"""
LONG = "import time\nprint('started', flush=True)\ntime.sleep(120)\n"


class EventReader:
    """Server-sent events as they arrive (tornado's streaming_callback), with arrival times."""

    def __init__(self) -> None:
        self.buffer, self.events = "", []

    def __call__(self, chunk: bytes) -> None:
        self.buffer += chunk.decode()
        while "\n\n" in self.buffer:
            raw, self.buffer = self.buffer.split("\n\n", 1)
            fields = dict(ln.split(": ", 1) for ln in raw.splitlines() if not ln.startswith(":"))
            if fields:
                kind = fields.get("event", "message")
                self.events.append((time.monotonic(), kind, json.loads(fields["data"])))

    def lines(self) -> list[dict]:
        return [data for _, kind, data in self.events if kind == "message"]


def _stream(jp_fetch, job_id: str, reader: EventReader, **params: str):
    return jp_fetch("workbench", "api", "jobs", job_id, "logs", "stream", params=params,
                    streaming_callback=reader, request_timeout=60)  # fmt: skip


async def _submit(jp_fetch, workdir: Path, script: str, ranks: int = 2) -> dict:
    (workdir / "entry.py").write_text(textwrap.dedent(script))
    spec = {"name": "logs", "entry": {"kind": "script", "path": "entry.py"}, "ranks": ranks,
            "working_dir": str(workdir)}  # fmt: skip
    code, job = await _json(jp_fetch, "jobs", method="POST", body=json.dumps(spec))
    assert code == 201
    return job


@pytest.mark.mpi
async def test_followed_logs_arrive_as_they_are_written_and_end_with_the_job(
    jp_fetch, wb_home: Path, workdir: Path
):
    job = await _submit(jp_fetch, workdir, STREAMED)
    reader = EventReader()
    response = await _stream(jp_fetch, job["id"], reader, rank="1")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    texts = [(ln["rank"], ln["stream"], ln["text"]) for ln in reader.lines()]
    assert texts == [
        (1, "stdout", "rank 1 early"),
        (1, "stdout", "rank 1 late 0"),
        (1, "stdout", "rank 1 late 1"),
        (1, "stdout", "rank 1 late 2"),
        (1, "stderr", "rank 1 to stderr"),
    ]
    arrived = {data["text"]: when for when, kind, data in reader.events if kind == "message"}
    assert arrived["rank 1 late 0"] - arrived["rank 1 early"] > 1.5  # followed, not at the end
    (_, last, end) = reader.events[-1]
    assert last == "end" and end["id"] == job["id"] and end["state"] == "succeeded"

    again = EventReader()  # a finished job: the last 2 lines of each file, then the end
    await _stream(jp_fetch, job["id"], again, rank="0", tail="2")
    assert [ln["text"] for ln in again.lines()] == ["rank 0 late 1", "rank 0 late 2",
                                                    "rank 0 to stderr"]  # fmt: skip
    assert again.events[-1][1] == "end"


@pytest.mark.mpi
async def test_the_stream_stops_when_the_client_goes_away(
    jp_fetch, wb_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
):
    from workbench.jobs.logs import LogFollower

    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    original = LogFollower.close

    def close(self: LogFollower) -> None:
        original(self)
        loop.call_soon_threadsafe(closed.set)

    monkeypatch.setattr(LogFollower, "close", close)
    job = await _submit(jp_fetch, workdir, LONG, ranks=1)
    reader = EventReader()
    with pytest.raises(HTTPClientError) as err:  # the client gives up after 3 s: it is gone
        await jp_fetch("workbench", "api", "jobs", job["id"], "logs", "stream",
                       streaming_callback=reader, request_timeout=3)  # fmt: skip
    assert err.value.code == 599
    await asyncio.wait_for(closed.wait(), timeout=5)  # the handler noticed and stopped
    assert {"rank": 0, "stream": "stdout", "text": "started"} in reader.lines()
    await jp_fetch("workbench", "api", "jobs", job["id"], "cancel", method="POST", body=b"")
