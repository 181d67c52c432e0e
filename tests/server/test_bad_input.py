"""Malformed requests across every route: each gets a 4xx JSON ``{message, reason}`` naming
what is wrong, and nothing stored (jobs, dataset versions, labeling projects) changes."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tornado.httpclient import HTTPClientError

from workbench.config import get_settings
from workbench.jobs.states import JobState
from workbench.jobs.store import JobStore, NewJob
from workbench.labeling.projects import ProjectBook, ProjectRecord
from workbench.training.data.versions import DatasetRegistry, NewItem

FINISHED, PROJECT, UNKNOWN_RUN = "0123456789ab", 7, "f" * 32
SCRIPT = {"kind": "script", "path": "train.py"}
SELECT = {"name": "s", "models": {"mlp": {}}, "base": {"data": {"source": "digits"}}}


def _job(**change: Any) -> dict[str, Any]:
    return {"name": "bad", "entry": SCRIPT, "ranks": 1, **change}


def _training(spec: dict[str, Any]) -> dict[str, Any]:
    full = {"name": "t", "model": {"name": "mlp"}, "data": {"source": "digits"}, **spec}
    return _job(entry={"kind": "training", "spec": full})


# (case id, method, path, query or body, status, words the message must contain)
CASES: list[tuple[str, str, str, Any, int, str]] = [
    # jobs: bodies
    ("jobs-not-json", "POST", "jobs", b"{not json", 400, "not JSON"),
    ("jobs-list-body", "POST", "jobs", [], 400, "mapping"),
    ("jobs-null-body", "POST", "jobs", None, 400, "mapping"),
    ("jobs-name-type", "POST", "jobs", _job(name=5), 400, "name"),
    ("jobs-name-nul", "POST", "jobs", _job(name="a\x00b"), 400, "name"),
    ("jobs-ranks-huge", "POST", "jobs", _job(ranks=10**30), 400, "ranks"),
    ("jobs-ranks-negative", "POST", "jobs", _job(ranks=-1), 400, "ranks"),
    ("jobs-ranks-text", "POST", "jobs", _job(ranks="two"), 400, "ranks"),
    ("jobs-entry-kind", "POST", "jobs", _job(entry={"kind": "binary"}), 400, "entry.kind"),
    ("jobs-entry-missing", "POST", "jobs", {"name": "x", "ranks": 1}, 400, "entry"),
    ("jobs-backend", "POST", "jobs", _job(backend="mainframe"), 400, "backend"),
    ("jobs-env-value", "POST", "jobs", _job(env={"A": 1}), 400, "env"),
    ("jobs-env-key", "POST", "jobs", _job(env={"BAD KEY": "x"}), 400, "env"),
    ("jobs-unknown-field", "POST", "jobs", _job(colour="red"), 400, "colour"),
    ("jobs-training-model", "POST", "jobs", _training({"model": {"name": "nope"}}), 400, "model"),
    ("jobs-training-epochs", "POST", "jobs", _training({"train": {"epochs": 1e30}}), 400, "epochs"),
    ("jobs-training-lr", "POST", "jobs", _training({"train": {"lr": "fast"}}), 400, "lr"),
    ("jobs-training-data", "POST", "jobs", _training({"data": {"source": "x"}}), 400, "data"),
    ("jobs-working-dir-abs", "POST", "jobs", _job(working_dir="/etc"), 400, "working_dir"),
    ("jobs-working-dir-up", "POST", "jobs", _job(working_dir="../.."), 400, "working_dir"),
    ("jobs-working-dir-nul", "POST", "jobs", _job(working_dir="a\x00b"), 400, "working_dir"),
    ("jobs-data-path", "POST", "jobs", _training({"data": {"source": "image_folder",
     "path": "../../etc"}}), 400, "data.path"),
    ("jobs-checkpoints-up", "POST", "jobs", _job(checkpoint_dir="../../x"), 400, "checkpoint_dir"),
    # one-click training
    ("train-not-json", "POST", "train", b"spec=1", 400, "not JSON"),
    ("train-list-body", "POST", "train", [], 400, "spec"),
    ("train-no-spec", "POST", "train", {"ranks": 2}, 400, "spec"),
    ("train-unknown-field", "POST", "train", {"spec": {}, "gpus": 2}, 400, "gpus"),
    ("train-model", "POST", "train", {"spec": {"name": "t", "model": {"name": "nope"}}}, 400,
     "nope"),
    ("train-ranks", "POST", "train", {"spec": _training({})["entry"]["spec"], "ranks": "x"}, 400,
     "ranks"),
    ("train-segmentation", "POST", "train",
     {"spec": {"name": "t", "model": {"name": "unet"}}}, 400, "does segmentation"),
    ("train-working-dir", "POST", "train", {"spec": {}, "working_dir": "/etc"}, 400,
     "working_dir"),
    ("train-checkpoints-up", "POST", "train",
     {"spec": {**_training({})["entry"]["spec"], "checkpoint_dir": "../../x"}}, 400,
     "checkpoint_dir"),
    ("train-checkpoints-abs", "POST", "train",
     {"spec": {**_training({})["entry"]["spec"], "checkpoint_dir": "/tmp/x"}}, 400,
     "checkpoint_dir"),
    # jobs: queries and ids
    ("jobs-limit-text", "GET", "jobs", {"limit": "abc"}, 400, "limit"),
    ("jobs-limit-zero", "GET", "jobs", {"limit": "0"}, 400, "limit"),
    ("jobs-limit-huge", "GET", "jobs", {"limit": str(10**30)}, 400, "limit"),
    ("jobs-offset-negative", "GET", "jobs", {"offset": "-1"}, 400, "offset"),
    ("jobs-state-unknown", "GET", "jobs", {"state": "exploded"}, 400, "state"),
    ("job-unknown", "GET", "jobs/nosuchjob", None, 404, "nosuchjob"),
    ("logs-rank", "GET", f"jobs/{FINISHED}/logs", {"rank": "99"}, 400, "rank"),
    ("logs-tail", "GET", f"jobs/{FINISHED}/logs", {"tail": "-5"}, 400, "tail"),
    ("logs-unknown", "GET", "jobs/nosuchjob/logs", None, 404, "nosuchjob"),
    ("cancel-unknown", "POST", "jobs/nosuchjob/cancel", {}, 404, "nosuchjob"),
    ("cancel-finished", "POST", f"jobs/{FINISHED}/cancel", {}, 409, "nothing to cancel"),
    ("retry-unknown", "POST", "jobs/nosuchjob/retry", {}, 404, "nosuchjob"),
    ("stream-rank", "GET", f"jobs/{FINISHED}/logs/stream", {"rank": "99"}, 400, "rank"),
    ("stream-rank-text", "GET", f"jobs/{FINISHED}/logs/stream", {"rank": "one"}, 400, "rank"),
    ("stream-tail", "GET", f"jobs/{FINISHED}/logs/stream", {"tail": "-1"}, 400, "tail"),
    ("stream-unknown", "GET", "jobs/nosuchjob/logs/stream", None, 404, "nosuchjob"),
    # tracking
    ("runs-no-experiment", "GET", "runs", None, 400, "experiment_id"),
    ("runs-filter", "GET", "runs", {"experiment_id": "0", "filter": "metrics.x >>> ("}, 400, ""),
    ("runs-order", "GET", "runs", {"experiment_id": "0", "order_by": "nonsense!!"}, 400, ""),
    ("runs-page-size", "GET", "runs", {"experiment_id": "0", "page_size": "many"}, 400, "page"),
    ("runs-page-token", "GET", "runs", {"experiment_id": "0", "page_token": "xyz"}, 400, ""),
    ("runs-history", "GET", f"runs/{UNKNOWN_RUN}/metrics/loss", None, 404, UNKNOWN_RUN),
    ("runs-compare-none", "GET", "runs/compare", None, 400, "compare needs 2"),
    ("runs-compare-unknown", "GET", "runs/compare", [("run_id", UNKNOWN_RUN)] * 2, 404,
     UNKNOWN_RUN),
    ("run-unknown", "GET", f"runs/{UNKNOWN_RUN}", None, 404, UNKNOWN_RUN),
    ("artifact-unknown-run", "GET", f"runs/{UNKNOWN_RUN}/artifacts/a.png", None, 404, UNKNOWN_RUN),
    ("artifact-up", "GET", f"runs/{UNKNOWN_RUN}/artifacts/../../mlflow.db", None, 400, "path"),
    # model selection
    ("select-not-json", "POST", "select", b"{spec", 400, "not JSON"),
    ("select-no-spec", "POST", "select", {"trials": 2}, 400, "spec"),
    ("select-unknown-field", "POST", "select", {"spec": SELECT, "gpus": 1}, 400, "gpus"),
    ("select-spec-type", "POST", "select", {"spec": [1]}, 400, "spec"),
    ("select-model", "POST", "select", {"spec": {**SELECT, "models": {"nope": {}}}}, 400, "nope"),
    ("select-trials", "POST", "select", {"spec": {**SELECT, "trials": 0}}, 400, "trials"),
    ("select-range", "POST", "select",
     {"spec": {**SELECT, "search": {"lr": {"float": ["a", 1]}}}}, 400, "search.lr"),
    ("select-base", "POST", "select",
     {"spec": {**SELECT, "base": {"train": {"epochs": 0}}}}, 400, "base"),
    ("select-working-dir", "POST", "select", {"spec": SELECT, "working_dir": "/etc"}, 400,
     "working_dir"),
    ("select-data-path", "POST", "select", {"spec": {**SELECT, "base": {"data": {
     "source": "image_folder", "path": "/etc"}}}}, 400, "data.path"),
    ("select-checkpoints", "POST", "select",
     {"spec": {**SELECT, "base": {"checkpoint_dir": "../../x"}}}, 400, "checkpoint_dir"),
    ("study-unknown", "GET", "studies/nope", None, 404, "nope"),
    ("register-unknown", "POST", "studies/nope/register-best", {}, 404, "nope"),
    ("register-name-type", "POST", "studies/nope/register-best", {"name": 5}, 400, "name"),
    ("register-field", "POST", "studies/nope/register-best", {"model": "x"}, 400, "model"),
    ("register-body", "POST", "studies/nope/register-best", [], 400, "JSON object"),
    # labeling projects
    ("project-not-json", "POST", "labeling/projects", b"\x00\xff", 400, "not JSON"),
    ("project-list-body", "POST", "labeling/projects", [1], 400, "JSON object"),
    ("project-no-title", "POST", "labeling/projects", {}, 400, "title"),
    ("project-title-type", "POST", "labeling/projects", {"title": 5}, 400, "title"),
    ("project-images-escape", "POST", "labeling/projects",
     {"title": "pets", "images": "../../etc"}, 400, "outside"),
    ("project-images-nul", "POST", "labeling/projects",
     {"title": "pets", "images": "a\x00b"}, 400, "images"),
    ("project-template", "POST", "labeling/projects",
     {"title": "pets", "images": "x", "template": "video"}, 400, "template"),
    ("project-classes-type", "POST", "labeling/projects",
     {"title": "pets", "images": "x", "classes": "a,b"}, 400, "classes"),
    ("project-classes-items", "POST", "labeling/projects",
     {"title": "pets", "images": "x", "classes": [1, 2]}, 400, "classes"),
    ("project-unknown", "GET", "labeling/projects/999", None, 404, "999"),
    ("export-unknown", "POST", "labeling/projects/999/export", {"dataset": "x"}, 404, "999"),
    ("export-no-dataset", "POST", f"labeling/projects/{PROJECT}/export", {}, 400, "dataset"),
    ("predict-auto-type", "POST", f"labeling/projects/{PROJECT}/predict", {"auto": "yes"}, 400,
     "auto"),
    ("predict-neither", "POST", f"labeling/projects/{PROJECT}/predict", {}, 400, "--auto"),
    ("predict-strategy", "POST", f"labeling/projects/{PROJECT}/predict",
     {"auto": True, "strategy": "random"}, 400, "strategy"),
    ("issues-top", "POST", f"labeling/projects/{PROJECT}/issues", {"top": "ten"}, 400, "top"),
    ("accept-threshold", "POST", f"labeling/projects/{PROJECT}/accept",
     {"min_confidence": "high"}, 400, "min_confidence"),
    ("next-n", "GET", f"labeling/projects/{PROJECT}/next", {"n": "abc"}, 400, "n:"),
    ("next-unknown", "GET", "labeling/projects/999/next", None, 404, "999"),
    # datasets and operations
    ("dataset-unknown", "GET", "datasets/nope@v1", None, 404, "nope"),
    ("dataset-version", "GET", "datasets/pets@v99", None, 404, "v99"),
    ("diff-one-side", "GET", "datasets/diff", {"base": "pets@v1"}, 400, "other"),
    ("diff-unknown", "GET", "datasets/diff", {"base": "pets@v1", "other": "cats@v1"}, 404, "cats"),
    ("operation-unknown", "GET", "operations/op1-1", None, 404, "op1-1"),
]  # fmt: skip


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


@pytest.fixture
def stored(wb_home: Path, jp_root_dir: Path) -> Path:
    """One finished job, one dataset version and one labeling project already stored."""
    settings = get_settings()
    assert settings.jobs_db is not None and settings.datasets_dir is not None
    store = JobStore(settings.jobs_db)
    spec = {"name": "done", "entry": SCRIPT, "ranks": 2, "working_dir": str(jp_root_dir)}
    store.insert(NewJob(FINISHED, "done", "local", 2, spec, wb_home / "jobs" / FINISHED))
    store.transition(FINISHED, JobState.FAILED, reason="planted")
    store.close()
    images = jp_root_dir / "pets"
    images.mkdir()
    items = []
    for i in range(2):
        Image.fromarray(np.full((4, 4), i * 90, np.uint8)).save(images / f"{i}.png")
        items.append(NewItem(images / f"{i}.png", f"{i}.png", label=("cat", "dog")[i]))
    DatasetRegistry(settings.datasets_dir).publish("pets", ["cat", "dog"], items)
    assert settings.labelstudio_data_dir is not None
    book = ProjectBook(settings.labelstudio_data_dir / "workbench-projects")
    book.save(ProjectRecord(PROJECT, "pets", "classification", ["cat", "dog"], str(images)))
    return wb_home


def _snapshot(home: Path) -> dict[str, str]:
    """Every stored row and file that a request could change."""
    with sqlite3.connect(home / "jobs.db") as con:
        rows = con.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    found = {"jobs": json.dumps(rows)}
    for folder in ("datasets", "labelstudio/workbench-projects"):
        for path in sorted((home / folder).rglob("*")):
            if path.is_file():
                found[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


NO_INPUT = {"version", "config", "models", "experiments", "labeling/server", "datasets",
            "labeling/server/(start|stop)", "schemas", "registry", "studies"}  # fmt: skip


def test_the_corpus_is_large_and_covers_every_route_that_takes_input():
    from workbench.server.handlers import all_routes

    assert len(CASES) >= 40 and len({case[0] for case in CASES}) == len(CASES)
    paths = [case[2] for case in CASES]
    untested = [
        route
        for route, _ in all_routes()
        if route not in NO_INPUT and not any(re.fullmatch(route, p) for p in paths)
    ]
    assert not untested, f"routes without bad-input cases: {untested}"


@pytest.mark.parametrize(("method", "path", "payload", "status", "words"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])  # fmt: skip
async def test_bad_input_is_refused_and_changes_nothing(
    jp_fetch, stored: Path, method: str, path: str, payload: Any, status: int, words: str
):
    before = _snapshot(stored)
    kwargs: dict[str, Any] = {"method": method}
    if method == "GET":
        kwargs["params"] = payload or {}
    else:
        kwargs["body"] = payload if isinstance(payload, bytes) else json.dumps(payload)
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("workbench", "api", *path.split("/"), **kwargs)
    response = info.value.response
    assert response is not None and info.value.code == status, (
        info.value.code, response.body if response else None,
    )  # fmt: skip
    body = json.loads(response.body)
    assert set(body) == {"message", "reason"}, body
    assert body["message"] and body["reason"]
    assert words in body["message"], body
    assert _snapshot(stored) == before
