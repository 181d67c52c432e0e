"""``horovod.tensorflow.keras.elastic``'s names, which this engine does not provide.

Horovod's elastic training needs an elastic driver (``horovodrun --min-np/--max-np`` with
host discovery) that re-forms the ring when workers come and go and restores a
committed ``KerasState`` on the survivors. This engine runs on a fixed ``mpiexec`` world,
so there is nothing to re-form: each name here raises ``NotImplementedError`` saying what
to do instead (checkpoint on rank 0, e.g. with ``callbacks.BestModelCheckpoint`` or
``keras.callbacks.ModelCheckpoint``, and restart the job, loading the checkpoint and
broadcasting it with ``BroadcastGlobalVariablesCallback``).
"""

from __future__ import annotations

from typing import Any, NoReturn

INSTEAD = (
    "workbench.engine.keras has no elastic driver (a fixed mpiexec world): save a "
    "checkpoint on rank 0 (callbacks.BestModelCheckpoint or keras.callbacks.ModelCheckpoint) "
    "and restart the job from it; BroadcastGlobalVariablesCallback gives every rank its "
    "weights"
)


def _unavailable(name: str) -> NoReturn:
    raise NotImplementedError(f"{name} is not available: {INSTEAD}")


class KerasState:
    """Not available (see the module docstring); constructing one raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable("elastic.KerasState")


class TensorFlowKerasState(KerasState):
    """Not available (see the module docstring); constructing one raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable("elastic.TensorFlowKerasState")


class CommitStateCallback:
    """Not available (see the module docstring); constructing one raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable("elastic.CommitStateCallback")


class UpdateBatchStateCallback:
    """Not available (see the module docstring); constructing one raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable("elastic.UpdateBatchStateCallback")


class UpdateEpochStateCallback:
    """Not available (see the module docstring); constructing one raises."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _unavailable("elastic.UpdateEpochStateCallback")


def run(func: Any) -> NoReturn:
    """Not available (see the module docstring): decorating with it raises."""
    _unavailable("elastic.run")
