"""Model selection end to end: trials are real training jobs, pruned ones show in MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner

from tests.selection import SELECTION
from workbench.cli import app
from workbench.tracking.client import fluent_tracking_uri


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
