"""Run queries the UI and CLI need: experiments, pages of runs, metric histories, comparisons.

Everything goes through MLflow's client API (never its tables), with paging so that an
experiment with 10,000 runs answers one page at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from workbench.errors import InvalidInput, NotFound

MAX_PAGE = 1000


@dataclass(frozen=True)
class RunPage:
    runs: list[dict[str, Any]]
    next_page_token: str | None


def run_summary(run: Run) -> dict[str, Any]:
    info = run.info
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "status": info.status,
        "start_time": info.start_time,
        "end_time": info.end_time,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        "parent_run_id": run.data.tags.get("mlflow.parentRunId"),
        "datasets": [_dataset(d) for d in (run.inputs.dataset_inputs if run.inputs else [])],
    }


def _dataset(used: Any) -> dict[str, Any]:
    """A dataset input of a run: which data, which version (digest), how it was used."""
    tags = {t.key: t.value for t in used.tags}
    try:
        profile = json.loads(used.dataset.profile) if used.dataset.profile else {}
    except ValueError:
        profile = {}
    return {
        "name": used.dataset.name,
        "digest": used.dataset.digest,
        "context": tags.get("mlflow.data.context"),
        "profile": profile,
    }


def list_experiments(client: MlflowClient) -> list[dict[str, Any]]:
    return [
        {
            "experiment_id": e.experiment_id,
            "name": e.name,
            "artifact_location": e.artifact_location,
            "lifecycle_stage": e.lifecycle_stage,
        }
        for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=MAX_PAGE)
    ]


def search_runs(
    client: MlflowClient,
    experiment_ids: list[str],
    *,
    filter_string: str = "",
    order_by: list[str] | None = None,
    page_size: int = 50,
    page_token: str | None = None,
) -> RunPage:
    """One page of runs, newest first unless ``order_by`` says otherwise.

    ``filter_string`` and ``order_by`` use MLflow's search syntax, e.g.
    ``"metrics.accuracy > 0.9 and params.model = 'small_cnn'"`` and ``["metrics.accuracy DESC"]``.
    """
    if not 1 <= page_size <= MAX_PAGE:
        raise InvalidInput(f"page_size must be in [1, {MAX_PAGE}], got {page_size}")
    try:
        page = client.search_runs(
            experiment_ids,
            filter_string=filter_string,
            max_results=page_size,
            order_by=order_by or ["attributes.start_time DESC"],
            page_token=page_token,
        )
    except MlflowException as exc:
        raise InvalidInput(f"run search failed: {exc.message}") from exc
    token = page.token.decode() if isinstance(page.token, bytes) else page.token
    return RunPage([run_summary(r) for r in page], token)


def metric_history(client: MlflowClient, run_id: str, key: str) -> list[dict[str, float]]:
    try:
        history = client.get_metric_history(run_id, key)
        if not history:
            client.get_run(run_id)  # an unknown run is a 404, not an empty history
    except MlflowException as exc:
        raise NotFound(f"run {run_id}: {exc.message}") from exc
    return [{"step": m.step, "value": m.value, "timestamp": m.timestamp} for m in history]


def run_detail(client: MlflowClient, run_id: str) -> dict[str, Any]:
    """One run for its detail view: :func:`run_summary`, the job that ran it, the dataset
    version it trained on, and its artifact files (``{path, size, is_image}``)."""
    from workbench.tracking.artifacts import list_artifact_files

    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        raise NotFound(f"run {run_id} does not exist") from exc
    summary = run_summary(run)
    trained_on = [d["name"] for d in summary["datasets"] if d["context"] == "training"]
    return {
        **summary,
        "job_id": run.data.tags.get("workbench.job_id"),
        "dataset": trained_on[0] if trained_on else None,
        "artifact_uri": run.info.artifact_uri,
        "artifacts": list_artifact_files(client, run_id),
    }


def compare_runs(client: MlflowClient, run_ids: list[str]) -> dict[str, Any]:
    """Params and final metrics of ``run_ids`` side by side; keys that differ listed first."""
    if not 2 <= len(run_ids) <= 50:
        raise InvalidInput(f"compare needs 2 to 50 runs, got {len(run_ids)}")
    runs = []
    for run_id in run_ids:
        try:
            runs.append(client.get_run(run_id))
        except MlflowException as exc:
            raise NotFound(f"run {run_id} does not exist") from exc

    def table(kind: str) -> dict[str, list[Any]]:
        keys = sorted({k for r in runs for k in getattr(r.data, kind)})
        rows = {k: [getattr(r.data, kind).get(k) for r in runs] for k in keys}
        differing = [k for k, v in rows.items() if len({repr(x) for x in v}) > 1]
        return {k: rows[k] for k in differing + [k for k in keys if k not in differing]}

    return {
        "run_ids": run_ids,
        "run_names": [r.info.run_name for r in runs],
        "params": table("params"),
        "metrics": table("metrics"),
    }


def experiment_runs(
    client: MlflowClient,
    experiment: str,
    *,
    filter_string: str = "",
    order_by: list[str] | None = None,
    page_size: int = 50,
) -> RunPage:
    """The first page of runs of the experiment named ``experiment``."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e["name"] for e in list_experiments(client)) or "none yet"
        raise NotFound(f"no experiment named {experiment!r} (experiments: {names})")
    return search_runs(
        client, [found.experiment_id], filter_string=filter_string, order_by=order_by,
        page_size=page_size,
    )  # fmt: skip


def runs_tagged(client: MlflowClient, key: str, value: str) -> list[str]:
    """Ids of the runs, in any experiment, whose tag ``key`` is ``value`` (newest first)."""
    ids = [e["experiment_id"] for e in list_experiments(client)]
    if not ids:
        return []
    quoted = value.replace("'", "\\'")
    runs = client.search_runs(ids, filter_string=f"tags.`{key}` = '{quoted}'", max_results=10)
    return [run.info.run_id for run in runs]
