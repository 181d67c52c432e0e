"""A real Optuna study whose trials are quick MLflow runs instead of training jobs.

The launcher is the seam :func:`run_selection` takes (selection.jobs hands in one that
submits jobs): here each trial logs its metric per epoch to a real MLflow run named as a job's
run would be, and a tiny pyfunc model, so the study, its runs and registration are all real.
"""

from __future__ import annotations

from typing import Any

import mlflow

from workbench.config import get_settings
from workbench.selection.spec import SelectionSpec
from workbench.selection.study import Report, SelectionResult, run_selection, study_storage
from workbench.tracking.client import fluent_tracking_uri
from workbench.tracking.runs import RunLogger

SMALL = {
    "name": "quick-select",
    "experiment": "quick-selection",
    "base": {"data": {"source": "digits"}, "train": {"epochs": 2}},
    "models": {"mlp": {"hidden": {"categorical": [[32], [64, 32]]}}},
    "search": {"lr": {"float": [0.01, 0.2]}},
    "trials": 3,
    "pruner": "none",
    "register_model": "quick-best",
}


class Echo(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: Any, model_input: list[Any], params: Any = None) -> list[Any]:
        return model_input


def score(raw: dict[str, Any], epoch: int) -> float:
    """A trial's metric: best at lr 0.1, better with the wider net, rising per epoch."""
    width = raw["model"]["params"]["hidden"][0]
    return 0.9 - abs(raw["train"]["lr"] - 0.1) + width / 1000 + 0.01 * epoch


def quick_launcher(raw: dict[str, Any], report: Report) -> dict[str, float]:
    settings = get_settings()
    with RunLogger(raw["experiment"], raw["name"], parent_run_id=raw["parent_run_id"]) as run:
        for epoch in range(raw["train"]["epochs"]):
            value = score(raw, epoch)
            run.log_metrics({"test_accuracy": value}, step=epoch)
            report(epoch, {"test_accuracy": value})
        with fluent_tracking_uri(settings.mlflow_tracking_uri), mlflow.start_run(run.run_id):
            mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=[])
    return {"test_accuracy": value}


def run_small_study(**change: Any) -> SelectionResult:
    spec = SelectionSpec.model_validate({**SMALL, **change})
    return run_selection(spec, quick_launcher, study_storage(get_settings().home))
