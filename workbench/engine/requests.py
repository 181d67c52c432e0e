"""Typed collective requests: what every layer of the engine passes down, and join plans over.

A ``Request`` says everything about one collective: its kind, its (resolved) name, the
arrays, the allreduce options, the root or the splits. The public API (``ops``) builds one
per call; the background thread queues, negotiates, fuses and hands it to
``Engine.run``; ``join`` describes it for ranks that have no data. Nothing in a request
refers back to the layers that carry it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from workbench.engine.reduce_ops import ReduceOp


class Kind(enum.Enum):
    ALLREDUCE = "allreduce"
    GROUPED_ALLREDUCE = "grouped_allreduce"
    ALLGATHER = "allgather"
    ALLGATHERV = "allgatherv"  # an allgather whose result is each rank's piece
    BROADCAST = "broadcast"
    REDUCESCATTER = "reducescatter"
    ALLTOALL = "alltoall"
    BARRIER = "barrier"


@dataclass(frozen=True)
class AllreduceOptions:
    """How an allreduce combines: the op, scale factors before and after, and whether a
    uint16 payload holds bfloat16 bit patterns."""

    op: ReduceOp = ReduceOp.SUM
    prescale_factor: float = 1.0
    postscale_factor: float = 1.0
    bfloat16_bits: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.op, ReduceOp):
            raise TypeError(f"op must be a ReduceOp (see ReduceOp.parse), got {self.op!r}")
        for what in ("prescale_factor", "postscale_factor"):
            value = getattr(self, what)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{what} must be a number, got {type(value).__name__}")
            object.__setattr__(self, what, float(value))

    @property
    def scales(self) -> tuple[float, float]:
        return self.prescale_factor, self.postscale_factor


SUM = AllreduceOptions()


@lru_cache(maxsize=1024)
def allreduce_options(
    op: ReduceOp | str = ReduceOp.SUM,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    bfloat16_bits: bool = False,
) -> AllreduceOptions:
    """The options for these arguments (one shared instance each: built once per training
    loop, not once per call)."""
    return AllreduceOptions(ReduceOp.parse(op), prescale_factor, postscale_factor, bfloat16_bits)


@dataclass(slots=True)
class Request:
    """One collective as queued: ``arrays`` are numpy arrays (views of the caller's data)."""

    kind: Kind
    name: str | None = None  # None: the engine draws ``kind.N`` when it is queued or run
    arrays: Sequence[Any] = ()
    options: AllreduceOptions = SUM  # allreduce, grouped allreduce, reducescatter
    root: int = -1  # broadcast
    splits: Sequence[int] | None = None  # reducescatter / alltoall rows per rank
    # run on the engine's thread just before the data moves (e.g. wait for a device copy)
    ready: Callable[[], None] | None = field(default=None, repr=False)

    @property
    def nbytes(self) -> int:
        return sum(int(np.asarray(a).nbytes) for a in self.arrays)

    @property
    def fuse_key(self) -> Hashable | None:
        """Equal keys may share one fused allreduce (None: this request runs alone)."""
        if self.kind is not Kind.ALLREDUCE:
            return None
        return (np.asarray(self.arrays[0]).dtype.str, self.options)

    def describe(self) -> str:
        shapes = ", ".join(str(tuple(np.shape(a))) for a in self.arrays)
        return f"{self.kind.value} {self.name!r} [{shapes}]"
