"""The MLflow observer of a training run: system metrics, datasets, evaluation, the model."""

from __future__ import annotations

from pathlib import Path

from workbench.tracking.client import tracking_client
from workbench.training.observer import MlflowObserver


def test_a_run_shorter_than_one_sampling_interval_still_gets_system_metrics(wb_home: Path):
    observer = MlflowObserver("short", system_metrics_interval=60.0)
    run_id = observer.start()
    observer.end()
    run = tracking_client().get_run(run_id)
    assert "system/cpu_utilization_percentage" in run.data.metrics
    assert "system/system_memory_usage_megabytes" in run.data.metrics
