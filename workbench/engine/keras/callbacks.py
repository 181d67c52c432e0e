"""Keras callbacks with ``horovod.tensorflow.keras.callbacks``' names."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from workbench.engine import ops
from workbench.engine.keras.tf_ops import broadcast_variables


class BroadcastGlobalVariablesCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """At the start of training, give every rank ``root_rank``'s model and optimizer state."""

    def __init__(self, root_rank: int = 0) -> None:
        super().__init__()
        self.root_rank = root_rank
        self.broadcast_done = False

    def on_train_begin(self, logs: Any = None) -> None:
        if self.broadcast_done:
            return
        broadcast_variables(self.model.variables, self.root_rank)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            broadcast_variables(optimizer.variables, self.root_rank)
        self.broadcast_done = True


class MetricAverageCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Replace each epoch's metrics in ``logs`` by their average over ranks.

    Put it before callbacks that read the metrics (checkpoints, LR schedules, loggers).
    """

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if not logs:
            return
        names = sorted(k for k, v in logs.items() if np.ndim(v) == 0)
        values = np.array([float(logs[k]) for k in names], dtype=np.float64)
        averaged = ops.allreduce(values, "average", name=f"metric_average.{epoch}")
        for key, value in zip(names, averaged, strict=True):
            logs[key] = float(value)


class LearningRateWarmupCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Ramp the learning rate from ``initial_lr / size`` to ``initial_lr`` over
    ``warmup_epochs`` (per batch when ``steps_per_epoch`` is known), as in Goyal et al.

    Momentum correction is not applied (Horovod's ``momentum_correction`` is ignored).
    """

    def __init__(
        self,
        initial_lr: float,
        warmup_epochs: float = 5,
        momentum_correction: bool = True,
        steps_per_epoch: int | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        if warmup_epochs <= 0:
            raise ValueError(f"warmup_epochs must be positive, got {warmup_epochs}")
        self.initial_lr = float(initial_lr)
        self.warmup_epochs = float(warmup_epochs)
        self.steps_per_epoch = steps_per_epoch
        self.verbose = verbose
        self.current_epoch = 0
        del momentum_correction

    def learning_rate(self, epoch: float) -> float:
        size = ops.size()
        if epoch >= self.warmup_epochs:
            return self.initial_lr
        return self.initial_lr / size * (epoch * (size - 1) / self.warmup_epochs + 1)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.current_epoch = epoch
        if self.steps_per_epoch is None:
            self.steps_per_epoch = (self.params or {}).get("steps")

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        fraction = batch / self.steps_per_epoch if self.steps_per_epoch else 0.0
        epoch = self.current_epoch + fraction
        if epoch > self.warmup_epochs + 1:
            return
        self.model.optimizer.learning_rate = self.learning_rate(epoch)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if logs is not None:
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))
        if self.verbose and epoch + 1 == int(self.warmup_epochs) and ops.rank() == 0:
            print(f"Epoch {epoch + 1}: finished learning rate warmup to {self.initial_lr:g}.")
