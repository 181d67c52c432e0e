"""Models and MLflow runs through the REST API (real Jupyter server, real sqlite store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError

from workbench.tracking.runs import RunLogger


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def _get(jp_fetch, *parts, **params):
    response = await jp_fetch("workbench", "api", *parts, params=params)
    return json.loads(response.body)


async def test_models(jp_fetch):
    models = {m["name"]: m for m in (await _get(jp_fetch, "models"))["models"]}
    assert models["resnet50"]["framework"] == "torch"
    assert "width" in models["small_cnn"]["hyperparameters"]["properties"]


async def test_experiments_runs_history_compare(jp_fetch, wb_home: Path):
    ids = []
    for i in range(3):
        with RunLogger("vision", f"run-{i}") as run:
            run.log_params({"lr": 0.1 * (i + 1)})
            for step in range(3):
                run.log_metrics({"test_accuracy": 0.5 + 0.1 * i + 0.01 * step}, step=step)
        ids.append(run.run_id)
    experiments = (await _get(jp_fetch, "experiments"))["experiments"]
    exp = next(e["experiment_id"] for e in experiments if e["name"] == "vision")
    page = await _get(
        jp_fetch, "runs", experiment_id=exp, page_size="2", order_by="metrics.test_accuracy DESC"
    )
    assert [r["run_name"] for r in page["runs"]] == ["run-2", "run-1"]
    rest = await _get(
        jp_fetch,
        "runs",
        experiment_id=exp,
        page_size="2",
        order_by="metrics.test_accuracy DESC",
        page_token=page["next_page_token"],
    )
    assert [r["run_name"] for r in rest["runs"]] == ["run-0"]
    history = await _get(jp_fetch, "runs", ids[1], "metrics", "test_accuracy")
    assert [round(h["value"], 2) for h in history["history"]] == [0.6, 0.61, 0.62]
    response = await jp_fetch(
        "workbench", "api", "runs", "compare", params=[("run_id", ids[0]), ("run_id", ids[2])]
    )
    assert json.loads(response.body)["params"]["lr"] == ["0.1", "0.30000000000000004"]


async def test_runs_need_an_experiment(jp_fetch, wb_home: Path):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "runs")
    assert err.value.code == 400
    assert "experiment_id" in json.loads(err.value.response.body)["message"]
