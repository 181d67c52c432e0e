"""Labeling and dataset routes through a real Jupyter server and a real Label Studio."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.labeling.fixtures import LabelStudioSession, write_digits
from workbench.labeling.service import LabelingService

pytestmark = pytest.mark.slow


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


@pytest.fixture
def jp_root_dir(label_studio: LabelStudioSession) -> Path:
    return label_studio.root  # the images the tests make are under the Jupyter root


async def _call(jp_fetch, *parts: str, method: str = "GET", body: Any = None, **kw: Any):
    extra = {"body": json.dumps(body if body is not None else {})} if method == "POST" else {}
    response = await jp_fetch("workbench", "api", *parts, method=method, **extra, **kw)
    return response.code, json.loads(response.body)


async def _finish(jp_fetch, op: dict[str, Any], timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, state = await _call(jp_fetch, "operations", op["id"])
        if state["state"] != "running":
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"operation {op} did not finish in {timeout}s")


async def test_label_an_image_folder_end_to_end_over_rest(
    jp_fetch, labeling: LabelingService, label_studio: LabelStudioSession
):
    code, status = await _call(jp_fetch, "labeling", "server")
    assert code == 200 and status["running"]
    assert status["token_file"] and labeling.server.token() not in json.dumps(status)
    folder = label_studio.folder("rest")
    write_digits(folder, per_class=6, flat=40, classes=3)
    rel = str(folder.relative_to(label_studio.root))
    code, op = await _call(jp_fetch, "labeling", "projects", method="POST",
                           body={"title": "rest digits", "images": rel})  # fmt: skip
    assert code == 202 and op["state"] == "running"
    done = await _finish(jp_fetch, op)
    assert done["state"] == "succeeded", done
    project = done["result"]["project"]
    assert (project["total"], project["labeled"]) == (58, 18)
    assert done["progress"]["done"] == done["progress"]["total"] == 58
    pid = str(project["id"])

    code, op = await _call(jp_fetch, "labeling", "projects", pid, "predict", method="POST",
                           body={"auto": True})  # fmt: skip
    predicted = await _finish(jp_fetch, op)
    assert predicted["state"] == "succeeded", predicted
    assert predicted["result"]["predicted"] == 40 and predicted["result"]["held_out_accuracy"] > 0.5
    code, batch = await _call(
        jp_fetch, "labeling", "projects", pid, "next", params={"n": 5, "strategy": "entropy"}
    )
    assert code == 200 and len(batch["tasks"]) == 5

    code, op = await _call(jp_fetch, "labeling", "projects", pid, "export", method="POST",
                           body={"dataset": "rest-digits"})  # fmt: skip
    exported = await _finish(jp_fetch, op)
    assert exported["result"]["ref"] == "rest-digits@v1"
    code, listed = await _call(jp_fetch, "datasets")
    assert any(d["name"] == "rest-digits" for d in listed["datasets"])
    code, shown = await _call(jp_fetch, "datasets", "rest-digits@v1")
    assert shown["items"] == 18 and shown["classes"] == {"0": 6, "1": 6, "2": 6}
    code, diff = await _call(
        jp_fetch, "datasets", "diff", params={"base": "rest-digits@v1", "other": "rest-digits@v1"}
    )
    assert diff["summary"] == {"added": 0, "removed": 0, "relabelled": 0}
    _, projects = await _call(jp_fetch, "labeling", "projects")
    assert any(p["id"] == int(pid) for p in projects["projects"])


@pytest.mark.parametrize(
    ("parts", "body", "message"),
    [
        (("labeling", "projects"), {"title": "up", "images": "../../etc"}, "outside the Jupyter"),
        (("labeling", "projects"), {"title": "t" * 3, "images": 5}, "images: a path"),
        (("labeling", "projects"), {"images": "x"}, "title: required"),
        (("labeling", "projects"), {"title": "abc", "images": "x", "template": "poly"}, "poly"),
        (("labeling", "projects", "1", "predict"), {"auto": "yes"}, "auto: expected bool"),
        (("labeling", "projects", "1", "export"), {}, "dataset: the name"),
    ],
)
async def test_bad_requests_are_400_naming_the_field(
    jp_fetch, labeling: LabelingService, parts, body, message
):
    with pytest.raises(HTTPClientError) as err:
        await _call(jp_fetch, *parts, method="POST", body=body)
    assert err.value.code == 400
    assert message in json.loads(err.value.response.body)["message"]


async def test_failed_operations_report_the_error(jp_fetch, labeling: LabelingService):
    from workbench.labeling.projects import ProjectRecord

    with pytest.raises(HTTPClientError) as err:  # not the workbench's: refused at once
        await _call(jp_fetch, "labeling", "projects", "987654", "import", method="POST")
    assert err.value.code == 404 and "987654" in json.loads(err.value.response.body)["message"]
    # known here but deleted in Label Studio meanwhile: the operation finds out and says so
    labeling.book.save(ProjectRecord(987654, "gone", "classification", ["a"], "/nowhere"))
    try:
        _, op = await _call(jp_fetch, "labeling", "projects", "987654", "import", method="POST")
        done = await _finish(jp_fetch, op)
    finally:
        labeling.book.remove(987654)
    assert done["state"] == "failed" and done["error"]["status"] == 404
    assert "987654" in done["error"]["message"]
    with pytest.raises(HTTPClientError) as err:
        await _call(jp_fetch, "operations", "op999-1")
    assert err.value.code == 404
    with pytest.raises(HTTPClientError) as err:
        await _call(jp_fetch, "datasets", "nothing@v1")
    assert err.value.code == 404


async def test_label_studio_down_is_503(jp_fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from tests.labeling.fixtures import free_port

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_PORT", str(free_port()))
    with pytest.raises(HTTPClientError) as err:
        await _call(jp_fetch, "labeling", "projects")
    assert err.value.code == 503
    assert "workbench label start" in json.loads(err.value.response.body)["message"]
    code, status = await _call(jp_fetch, "labeling", "server")
    assert code == 200 and status["running"] is False and status["detail"] == "stopped"
