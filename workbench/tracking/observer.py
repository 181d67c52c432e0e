"""A training run's observer backed by MLflow: metrics, evaluation artifacts, the model."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from workbench.tracking.runs import RunLogger
from workbench.training.evaluation import Evaluation, write_artifacts


class MlflowObserver(RunLogger):
    """:class:`RunLogger` plus what a trainer reports (the ``training.context.Observer``)."""

    def __init__(self, *args: Any, register_as: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register_as = register_as

    def log_evaluation(self, result: Evaluation, images: np.ndarray, labels: np.ndarray) -> None:
        if not self.active or self.run_id is None:
            return
        self.log_metrics({f"final_{k}": v for k, v in result.metrics().items()}, step=0)
        with tempfile.TemporaryDirectory(prefix="wb-eval-") as tmp:
            for path in write_artifacts(result, images, labels, Path(tmp)):
                self.log_artifact(path, "evaluation")

    def log_model(self, model: Any, framework: str) -> None:
        """Log ``model`` as the run's MLflow model (and register it when asked to)."""
        if not self.active or self.run_id is None:
            return
        import mlflow

        mlflow.set_tracking_uri(self.settings.mlflow_tracking_uri)
        flavor: Any
        if framework == "torch":
            import mlflow.pytorch as flavor
        else:
            import mlflow.keras as flavor
        with mlflow.start_run(run_id=self.run_id):
            flavor.log_model(model, name="model", registered_model_name=self.register_as)
