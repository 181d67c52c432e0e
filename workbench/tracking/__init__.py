"""Tracking: MLflow logging from rank 0, run queries for the UI, the model registry."""

from workbench.tracking.client import experiment_id, tracking_client
from workbench.tracking.queries import (
    RunPage,
    compare_runs,
    list_experiments,
    metric_history,
    search_runs,
)
from workbench.tracking.runs import RunLogger, flatten

__all__ = [
    "RunLogger",
    "RunPage",
    "compare_runs",
    "experiment_id",
    "flatten",
    "list_experiments",
    "metric_history",
    "search_runs",
    "tracking_client",
]
