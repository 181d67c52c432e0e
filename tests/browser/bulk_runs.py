"""Many MLflow runs fast: rows written with MLflow's own tables (its SQLAlchemy schema),
so the real tracking store and the real REST queries page over them."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from mlflow.store.tracking.dbmodels import models
from mlflow.tracking import MlflowClient

from workbench.tracking.client import refresh_statistics


def bulk_runs(tracking_uri: str, experiment: str, n: int, seed: int = 0) -> str:
    """Create ``experiment`` with ``n`` finished runs (metrics test_accuracy, train_loss;
    params model, lr); returns the experiment id."""
    client = MlflowClient(tracking_uri)  # creates the schema when the store is new
    found = client.get_experiment_by_name(experiment)
    exp_id = found.experiment_id if found else client.create_experiment(experiment)
    rng = random.Random(seed)  # noqa: S311 (test data)
    now = int(time.time() * 1000)
    runs, latest, metrics, params, tags = [], [], [], [], []
    for i in range(n):
        run_id = uuid.uuid4().hex
        start = now - (n - i) * 1000
        runs.append({
            "run_uuid": run_id, "name": f"bulk-{i:05d}", "source_type": "LOCAL",
            "source_name": "", "entry_point_name": "", "user_id": "bench", "status": "FINISHED",
            "start_time": start, "end_time": start + 500, "source_version": "",
            "lifecycle_stage": "active", "artifact_uri": "", "experiment_id": int(exp_id),
        })  # fmt: skip
        acc, loss = round(rng.uniform(0.1, 0.99), 4), round(rng.uniform(0.01, 2.0), 4)
        for key, value in (("test_accuracy", acc), ("train_loss", loss)):
            row = {"key": key, "value": value, "timestamp": start, "step": 0, "is_nan": False,
                   "run_uuid": run_id}  # fmt: skip
            latest.append(row)
            metrics.append(row)
        model, lr = rng.choice(["mlp", "small_cnn"]), str(rng.choice([0.01, 0.05, 0.1]))
        params.append({"key": "model", "value": model, "run_uuid": run_id})
        params.append({"key": "lr", "value": lr, "run_uuid": run_id})
        tags.append({"key": "mlflow.runName", "value": f"bulk-{i:05d}", "run_uuid": run_id})
    engine = sa.create_engine(tracking_uri)
    with engine.begin() as conn:
        conn.execute(sa.insert(models.SqlRun.__table__), runs)
        conn.execute(sa.insert(models.SqlLatestMetric.__table__), latest)
        conn.execute(sa.insert(models.SqlMetric.__table__), metrics)
        conn.execute(sa.insert(models.SqlParam.__table__), params)
        conn.execute(sa.insert(models.SqlTag.__table__), tags)
    engine.dispose()
    prefix = "sqlite:///"
    if tracking_uri.startswith(prefix):  # as a run's end does: the planner needs statistics
        refresh_statistics(Path(tracking_uri[len(prefix) :]), floor=0)
    return str(exp_id)
