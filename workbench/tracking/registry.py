"""The MLflow model registry: registering a run's model, and what is registered.

Through MLflow's API only: versions are created by ``mlflow.register_model`` (which waits
until the version is ready) and read back with the client's searches.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from workbench.config import Settings, get_settings
from workbench.errors import InvalidInput, NotFound
from workbench.tracking.client import fluent_tracking_uri, tracking_client

PAGE = 1000
MODEL_ARTIFACT = "model"  # where training logs a run's model (``log_model(name="model")``)


def register_run_model(run_id: str, name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Register the model run ``run_id`` logged as a new version of ``name``."""
    import mlflow

    settings = settings or get_settings()
    if not name.strip():
        raise InvalidInput("name: a registered model name is required")
    client = tracking_client(settings)
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise NotFound(f"run {run_id} does not exist") from exc
    existed = bool(client.search_registered_models(f"name = '{_quoted(name)}'"))
    with fluent_tracking_uri(settings.mlflow_tracking_uri):
        try:
            version = mlflow.register_model(_model_uri(client, run), name)
        except MlflowException as exc:
            if not existed:  # register_model made the name before it looked for the model
                client.delete_registered_model(name)
            raise NotFound(f"run {run_id} has no model to register: {exc.message}") from exc
    return model_version(client.get_model_version(name, version.version))


def _model_uri(client: MlflowClient, run: Any) -> str:
    """The run's logged model by id (MLflow 3 keeps models apart from the run's artifacts, and
    warns when a ``runs:/`` URI has to be resolved to one); ``runs:/`` for an older run."""
    outputs = run.outputs.model_outputs if run.outputs else []
    for output in outputs:
        if client.get_logged_model(output.model_id).name == MODEL_ARTIFACT:
            return f"models:/{output.model_id}"
    return f"runs:/{run.info.run_id}/{MODEL_ARTIFACT}"


def registered_models(client: MlflowClient) -> list[dict[str, Any]]:
    """Every registered model, by name, with all its versions (newest first)."""
    found: list[RegisteredModel] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=PAGE, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            break
    return [_registered(client, model) for model in sorted(found, key=lambda m: m.name)]


def _registered(client: MlflowClient, model: RegisteredModel) -> dict[str, Any]:
    versions = client.search_model_versions(f"name = '{_quoted(model.name)}'")
    aliases = {alias: int(v) for alias, v in (model.aliases or {}).items()}
    listed = []
    for found in sorted(versions, key=lambda v: -int(v.version)):
        version = model_version(found)
        version["aliases"] = sorted(a for a, v in aliases.items() if v == version["version"])
        listed.append(version)
    return {
        "name": model.name,
        "description": model.description or "",
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
        "tags": dict(model.tags or {}),
        "aliases": aliases,
        "versions": listed,
    }


def _quoted(name: str) -> str:
    """``name`` inside single quotes of an MLflow search filter."""
    return name.replace("\\", "\\\\").replace("'", "\\'")


def model_version(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": int(version.version),
        "run_id": version.run_id,
        "status": version.status,
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "source": version.source,
        "description": version.description or "",
        "tags": dict(version.tags or {}),
        "aliases": sorted(version.aliases or []),
    }
