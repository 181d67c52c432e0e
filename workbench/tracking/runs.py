"""Logging one training run to MLflow, from rank 0 only (other ranks get a silent logger)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from workbench.config import Settings, get_settings
from workbench.tracking.client import experiment_id, refresh_store_statistics, tracking_client

MAX_PARAM_LENGTH = 6000  # MLflow's limit for a param value


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dicts become dotted keys; values become strings (MLflow params are strings)."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)[:MAX_PARAM_LENGTH]
    return flat


class RunLogger:
    """A run in ``experiment``; every method is a no-op unless ``rank == 0``.

    Use as a context manager: the run ends FINISHED, or FAILED when the block raises
    (KILLED on KeyboardInterrupt).
    """

    def __init__(
        self,
        experiment: str,
        run_name: str | None = None,
        *,
        rank: int = 0,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        run_id: str | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.active = rank == 0
        self.experiment = experiment
        self.run_name = run_name
        self.parent_run_id = parent_run_id
        self.tags = dict(tags or {})
        self.run_id = run_id  # resume an existing run (a resubmitted job)
        self.settings = settings or get_settings()
        self.client = tracking_client(self.settings) if self.active else None

    def start(self) -> str | None:
        if self.client is None:
            return None
        if self.run_id is not None:
            self.client.update_run(self.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            return self.run_id
        tags = dict(self.tags)
        if self.parent_run_id:
            tags[MLFLOW_PARENT_RUN_ID] = self.parent_run_id
        exp = experiment_id(self.client, self.experiment, self.settings)
        run = self.client.create_run(exp, run_name=self.run_name, tags=tags)
        self.run_id = run.info.run_id
        return self.run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        if self.client is None or self.run_id is None:
            return
        flat = flatten(params)
        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in flat.items()])

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        if self.client is None or self.run_id is None:
            return
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        if self.client is not None and self.run_id is not None:
            for key, value in tags.items():
                self.client.set_tag(self.run_id, key, value)

    def end(self, status: str = "FINISHED") -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)
            refresh_store_statistics(self.settings)  # the UI's sorted queries stay fast

    def __enter__(self) -> RunLogger:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.end("FINISHED")
        elif issubclass(kind, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.end("FAILED")
