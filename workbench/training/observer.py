"""A training run's observer backed by MLflow: metrics, evaluation artifacts, the model.

Built on tracking's :class:`RunLogger`: training logs through tracking, and tracking knows
nothing of training (datasets, evaluations and models are training's own types).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from workbench.tracking.client import fluent_tracking_uri
from workbench.tracking.runs import RunLogger
from workbench.training.data.arrays import ArrayDataset
from workbench.training.evaluation import Evaluation, write_artifacts

log = logging.getLogger("workbench.training.observer")


class MlflowObserver(RunLogger):
    """:class:`RunLogger` plus what a trainer reports (the ``training.context.Observer``)."""

    def __init__(
        self,
        *args: Any,
        register_as: str | None = None,
        system_metrics_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.register_as = register_as
        self.system_metrics_interval = system_metrics_interval
        self._monitor: Any = None

    def start(self) -> str | None:
        """Start the run and MLflow's sampler of CPU, memory, disk, network (and GPU) use."""
        run_id = super().start()
        if run_id is not None and self.system_metrics_interval > 0:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self._monitor = SystemMetricsMonitor(
                run_id,
                sampling_interval=self.system_metrics_interval,
                tracking_uri=self.settings.mlflow_tracking_uri,
            )
            self._monitor.start()
        return run_id

    def end(self, status: str = "FINISHED") -> None:
        monitor, self._monitor = self._monitor, None
        try:
            if monitor is not None:
                self._finish_monitor(monitor)
        except Exception as exc:  # the run must still end with its status
            log.warning("system metrics of run %s not flushed: %s", self.run_id, exc)
        finally:
            super().end(status)

    @staticmethod
    def _finish_monitor(monitor: Any) -> None:
        """Stop the sampler and log the interval since its last report.

        MLflow's sampler drops the samples of an interval cut short by ``finish()``, so a run
        shorter than one interval would get no system metrics at all; one closing sample keeps
        every run's last stretch (and a short run's only one) in the record.
        """
        monitor.finish()
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()

    def log_dataset(self, source: str, train: ArrayDataset, test: ArrayDataset) -> None:
        """Record the dataset the run read as an MLflow dataset input (name, content digest,
        split sizes), so a run names the exact dataset version it trained and tested on."""
        if self.client is None or self.run_id is None:
            return
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        name = train.name.rsplit("/", 1)[0]  # "pets@v3/train" -> "pets@v3"
        profile = {"train_samples": len(train), "test_samples": len(test)}
        dataset = Dataset(
            name=name,
            digest=train.digest(),
            source_type="workbench",
            source=json.dumps({"source": source, "name": name, "classes": train.classes}),
            profile=json.dumps(profile),
        )
        tags = [InputTag(MLFLOW_DATASET_CONTEXT, "training")]
        self.client.log_inputs(self.run_id, [DatasetInput(dataset, tags)])

    def log_evaluation(self, result: Evaluation, images: np.ndarray, labels: np.ndarray) -> None:
        if not self.active or self.run_id is None:
            return
        self.log_metrics({f"final_{k}": v for k, v in result.metrics().items()}, step=0)
        with tempfile.TemporaryDirectory(prefix="wb-eval-") as tmp:
            for path in write_artifacts(result, images, labels, Path(tmp)):
                self.log_artifact(path, "evaluation")

    def log_model(self, model: Any, framework: str, example: np.ndarray | None) -> None:
        """Log ``model`` as the run's MLflow model (and register it when asked to)."""
        if not self.active or self.run_id is None:
            return
        from importlib.metadata import version

        import mlflow

        flavor: Any
        if framework == "torch":
            import mlflow.pytorch as flavor

            extra = {"serialization_format": "pt2"}  # a traced graph: loading runs no pickle
            requirements = [f"torch=={version('torch').split('+')[0]}"]
        else:
            import mlflow.keras as flavor
            from mlflow.models import infer_signature

            # log an uncompiled copy: the training optimizer (the engine's distributed
            # wrapper) would make the model unloadable where the engine is not imported
            served = type(model).from_config(model.get_config())
            served.set_weights(model.get_weights())
            model = served

            # mlflow.keras fails writing input examples: give the signature they would imply
            extra = {"signature": infer_signature(example, np.asarray(model(example)))}
            example = None
            requirements = [
                f"keras=={version('keras')}",
                f"tensorflow-cpu=={version('tensorflow-cpu')}",
            ]
        with (
            fluent_tracking_uri(self.settings.mlflow_tracking_uri),
            mlflow.start_run(run_id=self.run_id),
        ):
            flavor.log_model(
                model,
                name="model",
                registered_model_name=self.register_as,
                input_example=example,
                pip_requirements=requirements,
                **extra,
            )
