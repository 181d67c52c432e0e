"""Model selection through the REST API: studies, their trials, registering the best model,
and a study started from the UI whose trial is a real training job."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.selection.small_study import run_small_study


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def _json(jp_fetch, *parts: str, **kwargs: Any) -> tuple[int, Any]:
    try:
        response = await jp_fetch("workbench", "api", *parts, **kwargs)
    except HTTPClientError as err:
        assert err.response is not None
        return err.code, json.loads(err.response.body)
    return response.code, json.loads(response.body)


async def test_studies_trials_and_registering_the_best(jp_fetch):
    assert await _json(jp_fetch, "studies") == (200, {"studies": []})
    result = await asyncio.get_running_loop().run_in_executor(None, run_small_study)
    _, listed = await _json(jp_fetch, "studies")
    (study,) = listed["studies"]
    assert (study["name"], study["trials"], study["states"]) == ("quick-select", 3,
                                                                 {"complete": 3})  # fmt: skip
    assert study["best_trial"] == result.best_trial
    assert study["best_value"] == pytest.approx(result.best_value)
    _, detail = await _json(jp_fetch, "studies", "quick-select")
    assert [t["number"] for t in detail["trials"]] == [0, 1, 2]
    best = detail["trials"][result.best_trial]
    assert best["value"] == pytest.approx(result.best_value) and best["run_id"]
    assert [p["step"] for p in best["intermediate_values"]] == [0, 1]
    assert set(best["params"]) == {"model", "mlp.hidden", "lr"}

    code, registered = await _json(jp_fetch, "studies", "quick-select", "register-best",
                                   method="POST", body="{}")  # fmt: skip
    assert code == 201, registered
    assert registered["run_id"] == best["run_id"] and registered["trial"] == result.best_trial
    assert registered["model_version"]["name"] == "quick-best"
    code, _ = await _json(jp_fetch, "studies", "quick-select", "register-best", method="POST",
                          body=json.dumps({"name": "digits-prod"}))  # fmt: skip
    assert code == 201
    _, registry = await _json(jp_fetch, "registry")
    assert {m["name"]: [v["run_id"] for v in m["versions"]] for m in registry["models"]} == {
        "digits-prod": [best["run_id"]],
        "quick-best": [best["run_id"]],
    }


SELECT = {
    "name": "api-select",
    "experiment": "api-selection",
    "base": {"data": {"source": "digits"}, "train": {"epochs": 1, "batch_size": 64}},
    "models": {"mlp": {"hidden": {"categorical": [[32]]}}},
    "trials": 1,
    "pruner": "none",
    "register_model": "api-best",
}


@pytest.mark.mpi
@pytest.mark.slow
async def test_a_study_posted_from_the_ui_trains_its_trial_as_a_job_and_registers_it(jp_fetch):
    body = json.dumps({"spec": SELECT})
    response = await jp_fetch("workbench", "api", "select", method="POST", body=body)
    op = json.loads(response.body)
    assert response.code == 202 and op["study"] == "api-select"
    assert op["kind"] == "selection.study" and op["state"] == "running"
    assert response.headers["Location"].endswith(f"/workbench/api/operations/{op['id']}")
    code, again = await _json(jp_fetch, "select", method="POST", body=body)
    assert code == 409 and "already running" in again["message"], again

    deadline = time.monotonic() + 300
    while op["state"] == "running":
        assert time.monotonic() < deadline, op
        await asyncio.sleep(0.5)
        _, op = await _json(jp_fetch, "operations", op["id"])
    assert op["state"] == "succeeded", op
    assert op["progress"]["total"] == 1 and op["progress"]["done"] == 1
    result = op["result"]
    assert (result["study"], result["completed"], result["best_trial"]) == ("api-select", 1, 0)

    _, jobs = await _json(jp_fetch, "jobs")
    assert [(j["name"], j["state"]) for j in jobs["jobs"]] == [("api-select-trial-0", "succeeded")]
    _, study = await _json(jp_fetch, "studies", "api-select")
    (trial,) = study["trials"]
    assert trial["state"] == "complete" and trial["run_id"] == result["best_run_id"]
    assert trial["params"] == {"model": "mlp", "mlp.hidden": [32]}
    _, registry = await _json(jp_fetch, "registry")
    (model,) = registry["models"]
    assert model["name"] == "api-best" and model["versions"][0]["run_id"] == trial["run_id"]
    _, run = await _json(jp_fetch, "runs", trial["run_id"])
    assert run["job_id"] == jobs["jobs"][0]["id"] and run["dataset"] == "digits"
    images = {a["path"] for a in run["artifacts"] if a["is_image"]}
    assert images == {"evaluation/confusion_matrix.png", "evaluation/misclassified.png"}
