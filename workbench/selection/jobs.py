"""Model selection with every trial a job: the launcher :func:`run_selection` is given.

The driver submits a trial's training spec as a job, follows the trial's MLflow run (a
child of the study's parent run) and reports each new epoch's metric to Optuna; when the
pruner says stop, the job is cancelled. The best trial's model is registered on request.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workbench.config import Settings, get_settings
from workbench.jobs.service import JobService
from workbench.jobs.training_job import training_job
from workbench.selection.spec import SelectionSpec
from workbench.selection.study import (
    Launcher,
    Report,
    SelectionResult,
    TrialPruned,
    run_selection,
    study_storage,
)
from workbench.tracking.client import experiment_id, fluent_tracking_uri, tracking_client
from workbench.tracking.runs import RunLogger


def job_launcher(
    service: JobService, spec: SelectionSpec, working_dir: Path, poll: float = 0.5
) -> Launcher:
    client = tracking_client(service.settings)
    exp = experiment_id(client, spec.experiment, service.settings)

    def find_run(name: str) -> str | None:
        runs = client.search_runs([exp], filter_string=f"attributes.run_name = '{name}'")
        return runs[0].info.run_id if runs else None

    def launch(raw: dict[str, Any], report: Report) -> dict[str, float]:
        job = service.submit(training_job(raw, ranks=spec.ranks, working_dir=working_dir))
        run_id, reported = None, -1
        try:
            while True:
                record = service.refresh(job.id)  # this process may have no refresher
                run_id = run_id or find_run(raw["name"])
                if run_id is not None:
                    for point in client.get_metric_history(run_id, spec.metric):
                        if point.step > reported:
                            reported = point.step
                            report(point.step, {spec.metric: point.value})
                if record.state.terminal:
                    break
                time.sleep(poll)
        except TrialPruned:
            service.cancel(job.id)
            service.wait(job.id, timeout=60)  # its ranks are gone before the run is closed
            if run_id is not None:  # the killed rank could not close its run: say why it ended
                client.set_tag(run_id, "workbench.trial_state", "pruned")
                client.set_terminated(run_id, status="KILLED")
            raise
        if record.state != "succeeded" or run_id is None:
            raise RuntimeError(f"trial job {job.id} ended {record.state}: {record.reason or '-'}")
        client.set_tag(run_id, "workbench.trial_state", "complete")
        return dict(client.get_run(run_id).data.metrics)

    return launch


def select_with_jobs(
    spec: SelectionSpec,
    working_dir: Path,
    settings: Settings | None = None,
    progress: Any = None,
) -> tuple[SelectionResult, str | None]:
    """Run the study; returns the result and the best trial's MLflow run id."""
    settings = settings or get_settings()
    service = JobService(settings=settings)
    with RunLogger(
        spec.experiment, spec.name, settings=settings, tags={"workbench.selection": spec.name}
    ) as parent:
        parent.log_params(
            {
                "metric": spec.metric,
                "trials": spec.trials,
                "models": ",".join(sorted(spec.models)),
                "pruner": spec.pruner,
            }
        )
        storage = study_storage(settings.home)
        result = run_selection(
            spec, job_launcher(service, spec, working_dir), storage, parent.run_id, progress
        )
        parent.log_metrics(
            {
                f"best_{spec.metric}": result.best_value,
                "pruned_trials": result.pruned,
                "completed_trials": result.completed,
            },
            step=0,
        )
        best_name = f"{spec.name}-trial-{result.best_trial}"
        client = tracking_client(settings)
        runs = client.search_runs(
            [experiment_id(client, spec.experiment, settings)],
            filter_string=f"attributes.run_name = '{best_name}'",
        )
        best_run = runs[0].info.run_id if runs else None
        if best_run is not None:
            parent.set_tags({"workbench.best_run_id": best_run})
            if spec.register_model:
                import mlflow

                with fluent_tracking_uri(settings.mlflow_tracking_uri):
                    mlflow.register_model(f"runs:/{best_run}/model", spec.register_model)
    return result, best_run
