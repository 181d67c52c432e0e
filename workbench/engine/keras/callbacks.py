"""Keras callbacks with ``horovod.tensorflow.keras.callbacks``' names and arguments.

``process_set=`` (keyword-only, an addition to Horovod's arguments) makes a callback talk
to, or count the ranks of, that process set instead of the world.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import keras
import numpy as np

from workbench.engine import ops
from workbench.engine.keras.tf_ops import broadcast_variables, set_size
from workbench.engine.process_sets import ProcessSet


class BroadcastGlobalVariablesCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """At the start of training, give every rank ``root_rank``'s model and optimizer
    variables, except ``local_variables`` (each rank keeps its own values of those, e.g. the
    layers of a ``PartialDistributedOptimizer``). ``device`` is accepted for Horovod's
    signature and changes nothing. Broadcasts once, even over several ``fit`` calls."""

    def __init__(
        self,
        root_rank: int = 0,
        device: str = "",
        local_variables: Iterable[Any] | None = None,
        *,
        process_set: ProcessSet | None = None,
    ) -> None:
        super().__init__()
        del device
        self.root_rank = root_rank
        self.local_variables = list(local_variables or ())
        self.process_set = process_set
        self.broadcast_done = False

    def on_train_begin(self, logs: Any = None) -> None:
        if self.broadcast_done:
            return
        skipped = {id(v) for v in self.local_variables}
        variables = list(self.model.variables)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            variables += list(optimizer.variables)
        shared = [v for v in variables if id(v) not in skipped]
        broadcast_variables(shared, self.root_rank, process_set=self.process_set)
        self.broadcast_done = True


class MetricAverageCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Replace each epoch's scalar metrics in ``logs`` by their average over ranks.

    Put it before callbacks that read the metrics (checkpoints, LR schedules, loggers).
    ``device`` is accepted for Horovod's signature and changes nothing.
    """

    def __init__(self, device: str = "", *, process_set: ProcessSet | None = None) -> None:
        super().__init__()
        del device
        self.process_set = process_set

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if not logs:
            return
        names = sorted(k for k, v in logs.items() if np.ndim(v) == 0)
        values = np.array([float(logs[k]) for k in names], dtype=np.float64)
        name = f"metric_average.{epoch}"
        averaged = ops.allreduce(values, "average", name=name, process_set=self.process_set)
        for key, value in zip(names, averaged, strict=True):
            logs[key] = float(value)


class LearningRateScheduleCallback(keras.callbacks.Callback):  # type: ignore[misc]
    """Set the learning rate to ``initial_lr * multiplier(epoch)`` from ``start_epoch`` up
    to (not including) ``end_epoch`` (``None``: to the end); ``multiplier`` is a number or a
    function of the epoch. With ``staircase`` the rate changes at epoch starts (integer
    epochs); without, before every batch, with the fractional epoch
    ``epoch + batch / steps_per_epoch`` (``steps_per_epoch`` defaults to ``fit``'s).
    A constant ``multiplier`` implies ``staircase``.

    ``momentum_correction`` is accepted and not applied: Keras 3 compiles an optimizer's
    momentum into the train step as a constant, so it cannot be rescaled per batch.
    """

    def __init__(
        self,
        initial_lr: float,
        multiplier: float | Callable[[float], float],
        start_epoch: float = 0,
        end_epoch: float | None = None,
        staircase: bool = True,
        momentum_correction: bool = True,
        steps_per_epoch: int | None = None,
    ) -> None:
        super().__init__()
        del momentum_correction
        self.initial_lr = float(initial_lr)
        if callable(multiplier):
            self.multiplier = multiplier
            self.staircase = staircase
        else:
            factor = float(multiplier)
            self.multiplier = lambda epoch: factor
            self.staircase = True
        self.start_epoch = start_epoch
        self.end_epoch = end_epoch
        self.steps_per_epoch = steps_per_epoch
        self.current_epoch = 0

    def _in_schedule(self, epoch: float) -> bool:
        return epoch >= self.start_epoch and (self.end_epoch is None or epoch < self.end_epoch)

    def _set(self, epoch: float) -> None:
        if self._in_schedule(epoch):
            self.model.optimizer.learning_rate = self.initial_lr * self.multiplier(epoch)

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.current_epoch = epoch
        if self.steps_per_epoch is None:
            self.steps_per_epoch = (self.params or {}).get("steps")
        if self.staircase:
            self._set(epoch)

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        if self.staircase:
            return
        fraction = batch / self.steps_per_epoch if self.steps_per_epoch else 0.0
        self._set(self.current_epoch + fraction)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if logs is not None:
            logs["lr"] = float(np.asarray(self.model.optimizer.learning_rate))


class LearningRateWarmupCallback(LearningRateScheduleCallback):
    """Ramp the learning rate from ``initial_lr / size`` to ``initial_lr`` over
    ``warmup_epochs``, before every batch (Goyal et al., "Accurate, Large Minibatch SGD");
    the first batch after the warmup sets ``initial_lr`` exactly. ``size`` is the world's,
    or ``process_set``'s. ``momentum_correction``: see ``LearningRateScheduleCallback``.
    """

    def __init__(
        self,
        initial_lr: float,
        warmup_epochs: float = 5,
        momentum_correction: bool = True,
        steps_per_epoch: int | None = None,
        verbose: int = 0,
        *,
        process_set: ProcessSet | None = None,
    ) -> None:
        if warmup_epochs <= 0:
            raise ValueError(f"warmup_epochs must be positive, got {warmup_epochs}")
        self.warmup_epochs = float(warmup_epochs)
        self.verbose = verbose
        self.process_set = process_set
        super().__init__(
            initial_lr,
            self.warmup_multiplier,
            start_epoch=0,
            end_epoch=self.warmup_epochs + 1,
            staircase=False,
            momentum_correction=momentum_correction,
            steps_per_epoch=steps_per_epoch,
        )

    def warmup_multiplier(self, epoch: float) -> float:
        if epoch >= self.warmup_epochs:
            return 1.0
        size = set_size(self.process_set)
        return (epoch * (size - 1) / self.warmup_epochs + 1) / size

    def learning_rate(self, epoch: float) -> float:
        return self.initial_lr * self.warmup_multiplier(epoch)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.verbose and epoch + 1 == int(self.warmup_epochs) and ops.rank() == 0:
            print(f"Epoch {epoch + 1}: finished learning rate warmup to {self.initial_lr:g}.")


class BestModelCheckpoint(keras.callbacks.ModelCheckpoint):  # type: ignore[misc]
    """Keep the best model seen so far (by ``monitor``) at ``filepath`` (``.keras`` or
    ``.weights.h5``), written by rank 0 only: the ranks hold the same model, so one file
    is enough and no two ranks write it at once. Put ``MetricAverageCallback`` before it
    to judge by the metric averaged over ranks."""

    def __init__(
        self,
        monitor: str = "val_loss",
        verbose: int = 0,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        *,
        filepath: str,
    ) -> None:
        weights_only = str(filepath).endswith(".weights.h5")
        super().__init__(
            filepath,
            monitor=monitor,
            verbose=verbose,
            save_best_only=True,
            save_weights_only=weights_only,
            mode=mode,
            save_freq=save_freq,
        )

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if ops.rank() == 0:
            super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if ops.rank() == 0:
            super().on_epoch_end(epoch, logs)
