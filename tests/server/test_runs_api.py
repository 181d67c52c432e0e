"""A run's detail, its artifact files and the model registry through the REST API (real
Jupyter server, real sqlite store and artifacts logged the way training logs them)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest
from tornado.httpclient import HTTPClientError

from workbench.tracking.client import tracking_client
from workbench.training.data.arrays import ArrayDataset
from workbench.training.evaluation import evaluate
from workbench.training.observer import MlflowObserver

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


@pytest.fixture
def run_id(wb_home: Path, tmp_path: Path) -> str:
    """A run logged as training logs one: params, metrics per epoch, the dataset version it
    read, the evaluation (confusion matrix and misclassified PNGs, JSON), plus a page."""
    rng = np.random.default_rng(0)
    images = rng.random((12, 1, 8, 8), dtype=np.float32)
    labels = np.arange(12, dtype=np.int64) % 3
    train = ArrayDataset(images, labels, ["a", "b", "c"], "pets@v3/train")
    test = ArrayDataset(images[:6], labels[:6], ["a", "b", "c"], "pets@v3/test")
    observer = MlflowObserver("vision", "detail-run", tags={"workbench.job_id": "0123456789ab"},
                              system_metrics_interval=0)  # fmt: skip
    with observer:
        observer.log_params({"model": {"name": "mlp"}, "train": {"lr": 0.1}})
        for epoch in range(2):
            observer.log_metrics({"test_accuracy": 0.5 + 0.2 * epoch}, step=epoch)
        observer.log_dataset("dataset", train, test)
        logits = rng.random((6, 3))
        observer.log_evaluation(evaluate(logits, labels[:6], ["a", "b", "c"]), images[:6],
                                labels[:6])  # fmt: skip
        page = tmp_path / "report.html"
        page.write_text("<script>alert(1)</script>")
        observer.log_artifact(page, "pages")
    assert observer.run_id is not None
    return observer.run_id


def _artifact_root(run_id: str) -> Path:
    return Path(unquote(urlsplit(tracking_client().get_run(run_id).info.artifact_uri).path))


async def _get(jp_fetch, *parts: str) -> Any:
    return json.loads((await jp_fetch("workbench", "api", *parts)).body)


async def test_run_detail(jp_fetch, run_id: str):
    run = await _get(jp_fetch, "runs", run_id)
    assert run["run_id"] == run_id and run["run_name"] == "detail-run"
    assert run["status"] == "FINISHED" and run["end_time"] >= run["start_time"]
    assert run["params"]["train.lr"] == "0.1" and run["params"]["model.name"] == "mlp"
    assert run["metrics"]["test_accuracy"] == pytest.approx(0.7)  # the latest value
    assert "final_test_accuracy" in run["metrics"]
    assert run["job_id"] == "0123456789ab" and run["tags"]["workbench.job_id"] == "0123456789ab"
    assert run["dataset"] == "pets@v3"
    experiments = await _get(jp_fetch, "experiments")
    assert run["experiment_id"] == next(
        e["experiment_id"] for e in experiments["experiments"] if e["name"] == "vision"
    )
    files = {a["path"]: a for a in run["artifacts"]}
    assert set(files) == {"evaluation/confusion_matrix.png", "evaluation/misclassified.png",
                          "evaluation/evaluation.json", "pages/report.html"}  # fmt: skip
    assert files["evaluation/confusion_matrix.png"]["is_image"]
    assert not files["evaluation/evaluation.json"]["is_image"]
    root = _artifact_root(run_id)
    assert all(a["size"] == (root / a["path"]).stat().st_size for a in run["artifacts"])


async def test_artifacts_are_served_with_their_type(jp_fetch, run_id: str):
    png = await jp_fetch("workbench", "api", "runs", run_id, "artifacts", "evaluation",
                         "confusion_matrix.png")  # fmt: skip
    assert png.headers["Content-Type"] == "image/png" and png.body.startswith(PNG)
    assert png.body == (_artifact_root(run_id) / "evaluation/confusion_matrix.png").read_bytes()
    report = await jp_fetch("workbench", "api", "runs", run_id, "artifacts", "evaluation",
                            "evaluation.json")  # fmt: skip
    assert report.headers["Content-Type"] == "application/json"
    assert json.loads(report.body)["classes"] == ["a", "b", "c"]
    page = await jp_fetch("workbench", "api", "runs", run_id, "artifacts", "pages", "report.html")
    assert page.headers["Content-Type"] == "application/octet-stream"  # never run inline
    assert page.headers["Content-Disposition"] == 'attachment; filename="report.html"'
    assert page.headers["X-Content-Type-Options"] == "nosniff"


async def _status(http_server_client, jp_base_url, jp_auth_header, path: str) -> tuple[int, str]:
    """A request whose path is sent exactly as written (jp_fetch would escape its ``%``)."""
    try:
        response = await http_server_client.fetch(
            f"{jp_base_url}workbench/api/{path}", headers=jp_auth_header
        )
    except HTTPClientError as err:
        assert err.response is not None
        return err.code, json.loads(err.response.body)["message"]
    return response.code, ""


async def test_artifact_paths_stay_inside_the_runs_artifacts(
    http_server_client, jp_base_url, jp_auth_header, run_id: str, wb_home: Path
):
    root = _artifact_root(run_id)
    os.symlink(wb_home / "jobs.db", root / "evaluation" / "leak.txt")
    (wb_home / "jobs.db").write_text("secret")
    base = f"runs/{run_id}/artifacts"
    for path, status, words in [
        (f"{base}/../../../../jobs.db", 400, "inside the run's artifacts"),
        (f"{base}/evaluation/%2e%2e/%2e%2e/%2e%2e/%2e%2e/jobs.db", 400, "inside"),
        (f"{base}/%2F{wb_home}/jobs.db", 400, "inside"),
        (f"{base}/evaluation/leak.txt", 400, "leads outside"),
        (f"{base}/evaluation/missing.png", 404, "no artifact file 'evaluation/missing.png'"),
        (f"{base}/evaluation", 404, "no artifact file"),
        (f"runs/{'e' * 32}/artifacts/evaluation/confusion_matrix.png", 404, "does not exist"),
    ]:
        code, message = await _status(http_server_client, jp_base_url, jp_auth_header, path)
        assert (code, words in message) == (status, True), (path, code, message)


async def test_registry_lists_models_with_versions_aliases_and_tags(jp_fetch, run_id: str):
    assert await _get(jp_fetch, "registry") == {"models": []}
    client = tracking_client()
    client.create_registered_model("pets-classifier", tags={"team": "vision"})
    for _ in range(2):
        client.create_model_version("pets-classifier", f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias("pets-classifier", "champion", "1")
    client.set_model_version_tag("pets-classifier", "2", "validated", "no")
    (model,) = (await _get(jp_fetch, "registry"))["models"]
    assert model["name"] == "pets-classifier" and model["tags"] == {"team": "vision"}
    assert model["aliases"] == {"champion": 1}
    assert [(v["version"], v["run_id"], v["status"], v["aliases"], v["tags"])
            for v in model["versions"]] == [
        (2, run_id, "READY", [], {"validated": "no"}),
        (1, run_id, "READY", ["champion"], {}),
    ]  # fmt: skip
    assert all(v["creation_timestamp"] > 0 for v in model["versions"])
