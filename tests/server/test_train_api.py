"""``POST /workbench/api/train``: the server builds the job from a training spec."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from workbench.training.spec import parse_spec

SPEC = {
    "name": "mlp_digits",
    "experiment": "workbench",
    "model": {"name": "mlp"},
    "data": {"source": "digits"},
    "train": {"epochs": 1},
}


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def _post(jp_fetch, body: Any) -> tuple[int, dict[str, Any]]:
    try:
        response = await jp_fetch("workbench", "api", "train", method="POST", body=json.dumps(body))
    except HTTPClientError as err:
        assert err.response is not None
        return err.code, json.loads(err.response.body)
    return response.code, json.loads(response.body)


async def _stop(jp_fetch, job_id: str) -> None:
    """Cancel a job the test started (it may have ended on its own already)."""
    try:
        await jp_fetch("workbench", "api", "jobs", job_id, "cancel", method="POST", body=b"")
    except HTTPClientError as err:
        assert err.code == 409, err


async def _jobs(jp_fetch) -> list[dict[str, Any]]:
    response = await jp_fetch("workbench", "api", "jobs")
    return json.loads(response.body)["jobs"]


@pytest.mark.mpi
async def test_a_training_spec_becomes_a_job(jp_fetch, jp_root_dir: Path, wb_home: Path):
    code, job = await _post(jp_fetch, {"spec": SPEC, "ranks": 2})
    assert code == 201, job
    assert job["name"] == "mlp-digits" and job["ranks"] == 2 and job["backend"] == "local"
    assert job["spec"]["entry"] == {
        "kind": "training",
        "spec": parse_spec(SPEC).model_dump(mode="json"),
    }
    assert job["spec"]["working_dir"] == str(jp_root_dir.resolve())
    assert job["spec"]["mlflow_experiment"] == "workbench"
    await _stop(jp_fetch, job["id"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"spec": {**SPEC, "model": {"name": "nope"}}, "ranks": 1}, "unknown model 'nope'"),
        ({"spec": {**SPEC, "model": {}}, "ranks": 1}, "model.name: Field required"),
        ({"spec": SPEC, "ranks": 0}, "ranks: Input should be greater than or equal to 1"),
        ({"spec": SPEC, "ranks": 1, "backend": "moon"}, "backend: must be one of"),
        ({"spec": SPEC, "rank": 1}, "rank: not a field of a training request"),
        ({"ranks": 1}, "request body"),
        ({"spec": SPEC, "working_dir": "../.."}, "working_dir: '../..' is outside"),
        (
            {"spec": {**SPEC, "data": {"source": "image_folder", "path": "/etc"}}},
            "data.path: /etc is outside",
        ),
    ],
)
async def test_bad_requests_are_400_naming_the_field_and_store_nothing(
    jp_fetch, wb_home: Path, body: dict[str, Any], message: str
):
    code, error = await _post(jp_fetch, body)
    assert code == 400 and message in error["message"], error
    assert await _jobs(jp_fetch) == []


@pytest.mark.mpi
async def test_a_relative_data_path_is_under_the_working_dir(
    jp_fetch, jp_root_dir: Path, wb_home: Path
):
    images = jp_root_dir / "project" / "images"
    (images / "cat").mkdir(parents=True)
    spec = {**SPEC, "data": {"source": "image_folder", "path": "images"}}
    code, job = await _post(jp_fetch, {"spec": spec, "working_dir": "project"})
    assert code == 201, job
    assert job["spec"]["entry"]["spec"]["data"]["path"] == str(images.resolve())
    assert job["spec"]["working_dir"] == str((jp_root_dir / "project").resolve())
    await _stop(jp_fetch, job["id"])
