"""Tracking against a real embedded MLflow store (sqlite under the workbench home)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest

from workbench.errors import InvalidInput, NotFound
from workbench.tracking.client import tracking_client
from workbench.tracking.queries import compare_runs, list_experiments, metric_history, search_runs
from workbench.tracking.runs import RunLogger


def _log_run(name: str, lr: float, accs: list[float], parent: str | None = None) -> str:
    with RunLogger("digits", name, parent_run_id=parent, tags={"team": "vision"}) as run:
        run.log_params({"model": "small_cnn", "optimizer": {"name": "sgd", "lr": lr}})
        for epoch, acc in enumerate(accs):
            run.log_metrics({"accuracy": acc, "loss": 1 - acc}, step=epoch)
    assert run.run_id is not None
    return run.run_id


def test_runs_are_readable_by_mlflow_itself(
    wb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run_id = _log_run("first", 0.1, [0.5, 0.8, 0.9])
    artifact = tmp_path / "confusion.txt"
    artifact.write_text("ok")
    with RunLogger("digits", run_id=run_id) as resumed:
        resumed.log_artifact(artifact, "eval")
    assert (wb_home / "mlflow.db").is_file()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{wb_home.resolve() / 'mlflow.db'}")
    run = mlflow.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model": "small_cnn", "optimizer.name": "sgd", "optimizer.lr": "0.1"}
    assert run.data.metrics["accuracy"] == 0.9
    assert run.data.tags["team"] == "vision"
    artifact_dir = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="eval"))
    assert (artifact_dir / "confusion.txt").read_text() == "ok"
    # artifacts of the embedded store live under the workbench home, not the cwd
    assert str(wb_home.resolve() / "mlartifacts") in run.info.artifact_uri


def test_failed_block_marks_the_run_failed(wb_home: Path):
    with pytest.raises(RuntimeError), RunLogger("digits", "crash") as run:
        raise RuntimeError("boom")
    assert tracking_client().get_run(run.run_id).info.status == "FAILED"


def test_other_ranks_log_nothing(wb_home: Path):
    with RunLogger("digits", "rank1", rank=1) as run:
        run.log_params({"a": 1})
        run.log_metrics({"x": 1.0}, step=0)
    assert run.run_id is None
    assert not (wb_home / "mlflow.db").exists()


def test_search_pages_sorts_filters_and_compares(wb_home: Path):
    parent = _log_run("sweep", 0.0, [0.0])
    ids = [_log_run(f"trial-{i}", 0.01 * (i + 1), [0.5, 0.6 + 0.05 * i], parent) for i in range(5)]
    client = tracking_client()
    exp = next(e for e in list_experiments(client) if e["name"] == "digits")["experiment_id"]

    first = search_runs(client, [exp], order_by=["metrics.accuracy DESC"], page_size=2)
    assert [r["run_name"] for r in first.runs] == ["trial-4", "trial-3"]
    second = search_runs(
        client,
        [exp],
        order_by=["metrics.accuracy DESC"],
        page_size=2,
        page_token=first.next_page_token,
    )
    assert [r["run_name"] for r in second.runs] == ["trial-2", "trial-1"]

    good = search_runs(client, [exp], filter_string="metrics.accuracy > 0.7")
    assert {r["run_name"] for r in good.runs} == {"trial-3", "trial-4"}
    children = search_runs(client, [exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children.runs) == 5 and all(r["parent_run_id"] == parent for r in children.runs)

    assert [h["value"] for h in metric_history(client, ids[2], "accuracy")] == [0.5, 0.7]
    table = compare_runs(client, ids[:3])
    assert next(iter(table["params"])) == "optimizer.lr"  # the differing key comes first
    assert table["metrics"]["accuracy"] == [0.6, 0.65, 0.7]

    with pytest.raises(InvalidInput, match="run search failed"):
        search_runs(client, [exp], filter_string="metrics.accuracy >>> 1")
    with pytest.raises(InvalidInput, match="page_size"):
        search_runs(client, [exp], page_size=0)
    with pytest.raises(NotFound):
        compare_runs(client, [ids[0], "0" * 32])


def test_store_statistics_are_taken_when_runs_end_not_per_request(wb_home: Path):
    import sqlite3

    from workbench.config import get_settings
    from workbench.tracking.client import experiment_id, refresh_statistics
    from workbench.tracking.runs import RunLogger

    db = get_settings().mlflow_db_path
    assert db is not None
    client = tracking_client()
    exp = experiment_id(client, "grow")
    for i in range(60):
        client.create_run(exp, run_name=f"r{i}")

    def stats() -> tuple[str]:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT stat FROM sqlite_stat1 WHERE tbl='runs'").fetchone()

    tracking_client()  # a request's client reads, it never writes the store
    with pytest.raises(sqlite3.OperationalError, match="no such table: sqlite_stat1"):
        stats()
    with RunLogger("grow", "last"):
        pass  # a run that ends refreshes them
    assert stats()[0].split()[0] == "61"
    assert not refresh_statistics(db)  # not grown since
    for i in range(61):  # twice the runs it last saw
        client.create_run(exp, run_name=f"s{i}")
    assert refresh_statistics(db) and stats()[0].split()[0] == "122"
    assert len(search_runs(client, [exp], order_by=["metrics.accuracy DESC"]).runs) == 50


def test_fluent_tracking_uri_leaves_the_process_as_it_found_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    from workbench.tracking.client import fluent_tracking_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
    uri = f"sqlite:///{tmp_path / 'a.db'}"
    with fluent_tracking_uri(uri):
        assert mlflow.get_tracking_uri() == uri
    assert not is_tracking_uri_set() and "MLFLOW_TRACKING_URI" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    with fluent_tracking_uri(uri):
        assert mlflow.get_tracking_uri() == uri
    assert mlflow.get_tracking_uri() == "sqlite:///elsewhere.db"
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///elsewhere.db"


def test_processes_opening_a_fresh_store_at_once_all_succeed(tmp_path):
    """The lab server and a training rank may create the embedded store at the same moment;
    MLflow's migration of a new sqlite store fails the second one unless they take turns."""
    import os
    import subprocess
    import sys
    import time

    go = tmp_path / "go"
    code = (
        "import os, sys, time, pathlib\n"
        "import mlflow\n"
        "from workbench.tracking.client import tracking_client\n"
        f"go = pathlib.Path({str(go)!r})\n"
        f"pathlib.Path({str(tmp_path)!r}, 'ready-' + sys.argv[1]).touch()\n"
        "while not go.exists(): time.sleep(0.001)\n"
        "c = tracking_client()\n"
        "print(len(c.search_experiments()))\n"
    )
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home")}
    env.pop("MLFLOW_TRACKING_URI", None)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(i)], env=env, **pipes) for i in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("ready-*"))) < 4:  # all imported, all waiting for the go
        assert time.monotonic() < deadline, "the processes never got ready"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    go.touch()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        assert out.strip() == "1"  # MLflow's Default experiment, created once
