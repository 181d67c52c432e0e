"""The MLflow client for the configured store (embedded sqlite by default)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from workbench.config import Settings, get_settings
from workbench.errors import ServiceUnavailable

# The workbench runs on closed networks and never phones home; users may still opt in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def tracking_client(settings: Settings | None = None) -> MlflowClient:
    """A client on ``settings``' tracking URI; the embedded store's folders are created."""
    settings = settings or get_settings()
    if settings.mlflow_db_path is not None:
        settings.ensure_home()
        settings.mlflow_db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    except MlflowException as exc:
        raise ServiceUnavailable(
            f"MLflow store {settings.mlflow_tracking_uri} is unusable: {exc.message}"
        ) from exc


def experiment_id(client: MlflowClient, name: str, settings: Settings | None = None) -> str:
    """The id of experiment ``name``, created (with artifacts under the workbench home) if new."""
    settings = settings or get_settings()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if settings.mlflow_db_path is not None and settings.mlflow_artifacts_dir is not None:
        location = Path(settings.mlflow_artifacts_dir, name).resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:  # created meanwhile by another process
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


@contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``start_run``, ``log_model``, ``register_model``...) on ``uri``
    for this block only: the process-wide URI and ``MLFLOW_TRACKING_URI`` come back after."""
    import mlflow
    from mlflow.tracking._tracking_service import utils

    saved_uri, saved_env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_uri)  # type: ignore[arg-type]  # None: back to the env
        if saved_env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env
