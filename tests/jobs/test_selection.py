"""Model selection end to end: trials are real training jobs, pruned ones show in MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner

from workbench.cli import app
from workbench.errors import InvalidInput, NotFound
from workbench.tracking.client import fluent_tracking_uri
from workbench.training.selection import SelectionSpec

SELECTION = {
    "name": "digits-select",
    "experiment": "digits-selection",
    "base": {"data": {"source": "digits"}, "train": {"epochs": 3, "batch_size": 64}},
    "models": {
        "mlp": {"hidden": {"categorical": [[32], [128, 64]]}},
        "small_cnn": {"width": {"int": [4, 16], "log": True}},
    },
    "search": {"lr": {"float": [0.001, 0.3], "log": True}},
    "metric": "test_accuracy",
    "trials": 12,
    "parallel": 2,
    "pruner": "asha",
    "register_model": "digits-best",
}


@pytest.mark.mpi
@pytest.mark.slow
def test_twelve_trials_with_pruning_and_registration(wb_home: Path, tmp_path: Path):
    path = tmp_path / "select.yaml"
    path.write_text(yaml.safe_dump(SELECTION))
    result = CliRunner().invoke(app, ["select", str(path)])
    assert result.exit_code == 0, result.output
    assert "best test_accuracy" in result.output

    with fluent_tracking_uri(f"sqlite:///{wb_home.resolve() / 'mlflow.db'}"):
        runs = mlflow.search_runs(experiment_names=["digits-selection"], output_format="list")
        parent = next(r for r in runs if r.info.run_name == "digits-select")
        trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(trials) == 12
        states = [r.data.tags.get("workbench.trial_state") for r in trials]
        assert states.count("pruned") >= 1, states
        assert all(
            r.info.status == "KILLED"
            for r in trials
            if r.data.tags.get("workbench.trial_state") == "pruned"
        )
        best = parent.data.tags["workbench.best_run_id"]
        version = mlflow.MlflowClient().search_model_versions("name = 'digits-best'")[0]
        assert version.run_id == best
        assert float(parent.data.metrics["best_test_accuracy"]) >= 0.9


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": {"small_cnn": {"widht": {"int": [4, 8]}}}}, "not a hyper-parameter"),
        ({"models": {"small_cnn": {"width": {"int": [8, 4]}}}}, "low < high"),
        ({"models": {"small_cnn": {"width": {"int": [4, 8], "float": [1, 2]}}}}, "exactly one"),
        ({"models": {"nope": {}}}, "unknown model 'nope'"),
        ({"trials": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_selection_specs(change, message):
    with pytest.raises((ValueError, InvalidInput, NotFound), match=message):
        SelectionSpec.model_validate({**SELECTION, **change})
