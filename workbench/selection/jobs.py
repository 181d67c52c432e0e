"""Model selection with every trial a job: the launcher :func:`run_selection` is given.

The driver submits a trial's training spec as a job, follows the trial's MLflow run (a
child of the study's parent run) and reports each new epoch's metric to Optuna; when the
pruner says stop, the job is cancelled. The best trial's model is registered on request.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pydantic

from workbench.config import Settings, get_settings
from workbench.errors import InvalidInput
from workbench.jobs.confine import confine_to
from workbench.jobs.service import JobService, check_training_entry
from workbench.jobs.training_job import training_job
from workbench.progress import bar
from workbench.selection.spec import SelectionSpec
from workbench.selection.studies import register_best, trial_runs
from workbench.selection.study import (
    Launcher,
    Report,
    SelectionResult,
    TrialPruned,
    run_selection,
    study_storage,
    trial_run_name,
)
from workbench.tracking.client import experiment_id, tracking_client
from workbench.tracking.runs import RunLogger
from workbench.validation import invalid_input


def prepare_selection(
    raw: Mapping[str, Any], working_dir: Path, root: Path | None = None
) -> SelectionSpec:
    """A selection spec, checked as far as it can be before any trial runs: its rules, and
    a trial's training job (model, data, and with ``root`` every path kept under it)."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("spec: a selection spec (a JSON object) is required")
    try:
        spec = SelectionSpec.model_validate(dict(raw))
    except pydantic.ValidationError as exc:
        raise invalid_input(exc, "selection spec") from None
    first = {**spec.base, "name": spec.name, "model": {"name": sorted(spec.models)[0]}}
    job = training_job(first, ranks=spec.ranks, working_dir=working_dir, root=root)
    if root is not None:
        confine_to(job.model_dump(mode="json"), root)
    check_training_entry(job)
    return spec


def job_launcher(
    service: JobService,
    spec: SelectionSpec,
    working_dir: Path,
    poll: float = 0.5,
    root: Path | None = None,
) -> Launcher:
    client = tracking_client(service.settings)
    exp = experiment_id(client, spec.experiment, service.settings)

    def find_run(name: str) -> str | None:
        runs = client.search_runs([exp], filter_string=f"attributes.run_name = '{name}'")
        return runs[0].info.run_id if runs else None

    def launch(raw: dict[str, Any], report: Report) -> dict[str, float]:
        trial = training_job(raw, ranks=spec.ranks, working_dir=working_dir, root=root)
        job = service.submit(trial, root=root)
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
    root: Path | None = None,
) -> tuple[SelectionResult, str | None]:
    """Run the study; returns the result and the best trial's MLflow run id.

    ``root`` (the server's): every path of every trial's job must stay under it.
    """
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
        launcher = job_launcher(service, spec, working_dir, root=root)
        result = run_selection(spec, launcher, storage, parent.run_id, progress)
        parent.log_metrics(
            {
                f"best_{spec.metric}": result.best_value,
                "pruned_trials": result.pruned,
                "completed_trials": result.completed,
            },
            step=0,
        )
        runs = trial_runs(tracking_client(settings), spec.experiment, spec.name)
        best_run = runs.get(trial_run_name(spec.name, result.best_trial))
        if best_run is not None:
            parent.set_tags({"workbench.best_run_id": best_run})
            if spec.register_model:
                register_best(spec.name, spec.register_model, settings)
    return result, best_run


def run_study(spec: SelectionSpec, working_dir: Path, root: Path | None = None) -> dict[str, Any]:
    """:func:`select_with_jobs` as the server's background operation and ``%wb select`` run
    it: progress (finished trials of ``spec.trials``) goes to the current progress sink (the
    operation, the cell's line), the result comes back as JSON."""
    with bar(spec.trials, f"study {spec.name}", show=False, unit="trial") as trials:
        result, best_run = select_with_jobs(
            spec,
            working_dir,
            progress=lambda done, _total: trials.update(max(0, done - trials.done)),
            root=root,
        )
    return {"study": spec.name, **asdict(result), "best_run_id": best_run}
