"""Collectives that move tensors (allgather, broadcast, alltoall) and reducescatter, async.

Each ``*_async`` queues on the engine's thread and returns a handle for ``synchronize`` /
``poll``; grouped variants queue one collective per tensor back to back, so they are
negotiated in the same round and waited for as one. Arguments that are wrong on this rank
(alltoall splits, a scalar to scatter) raise ``InvalidArgumentError`` (a ``ValueError``)
before anything is queued. The blocking, differentiable forms live in ``autograd.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from workbench.engine import ops
from workbench.engine.errors import InvalidArgumentError
from workbench.engine.ops import global_process_set
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.torch.mpi_ops import Average, in_place, reduce_op, set_size
from workbench.engine.torch.tensors import (
    GroupHandle,
    TorchHandle,
    to_numpy,
    to_payload,
    to_tensor,
)


def member_name(name: str | None, index: int) -> str | None:
    """The name of a grouped call's ``index``-th collective (None: drawn automatically)."""
    return None if name is None else f"{name}.{index}"


def allgather_rows_async(
    tensor: torch.Tensor, name: str | None = None, process_set: ProcessSet = global_process_set
) -> TorchHandle:
    """Queue an allgather whose result is (every rank's rows concatenated, rows by rank)."""
    inner = ops.allgatherv_async(to_payload(tensor), name=name, process_set=process_set)

    def finish(pieces: list[Any]) -> tuple[torch.Tensor, list[int]]:
        if tensor.dim() == 0:
            return to_tensor(np.stack(pieces), tensor), [1] * len(pieces)
        gathered = to_tensor(np.concatenate(pieces, axis=0), tensor)
        return gathered, [int(p.shape[0]) for p in pieces]

    return TorchHandle(inner, finish)


def allgather_async(
    tensor: torch.Tensor, name: str | None = None, process_set: ProcessSet = global_process_set
) -> TorchHandle:
    """Queue an allgather: every rank's ``tensor`` concatenated along dimension 0 (whose
    length may differ by rank)."""
    handle = allgather_rows_async(tensor, name, process_set)
    return TorchHandle(handle.inner, lambda pieces: handle._finish(pieces)[0])


def grouped_allgather_async(
    tensors: Sequence[torch.Tensor],
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> GroupHandle:
    """Queue an allgather of each tensor; ``synchronize`` returns the gathered tensors."""
    handles = [allgather_async(t, member_name(name, i), process_set) for i, t in enumerate(tensors)]
    return GroupHandle(handles, name or "grouped_allgather")


def broadcast_async(
    tensor: torch.Tensor,
    root_rank: int,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue a broadcast: ``synchronize`` returns ``root_rank``'s ``tensor`` as a new tensor
    (``root_rank`` is a world rank in ``process_set``, as in Horovod)."""
    inner = ops.broadcast_async(to_payload(tensor), root_rank, name=name, process_set=process_set)
    return TorchHandle(inner, lambda a: to_tensor(a, tensor))


def broadcast_async_(
    tensor: torch.Tensor,
    root_rank: int,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue an in-place broadcast: after ``synchronize`` ``tensor`` holds the root's values."""
    return in_place(broadcast_async(tensor, root_rank, name, process_set), tensor)


def broadcast_(
    tensor: torch.Tensor,
    root_rank: int,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> torch.Tensor:
    """In-place ``broadcast`` (not differentiable): returns ``tensor``."""
    result: torch.Tensor = broadcast_async_(tensor, root_rank, name, process_set).wait()
    return result


def alltoall_splits(
    tensor: torch.Tensor, splits: Any, process_set: ProcessSet = global_process_set
) -> list[int] | None:
    """``splits`` as row counts checked against ``tensor`` (None: an even split, which the
    first dimension must allow), one per rank of ``process_set``."""
    n = set_size(process_set)
    rows = tensor.shape[0] if tensor.dim() else 0
    if tensor.dim() == 0:
        raise InvalidArgumentError("alltoall needs a tensor with at least one dimension")
    if splits is None:
        if rows % n:
            raise InvalidArgumentError(
                f"alltoall without splits divides the first dimension evenly, but {rows} rows "
                f"do not split over {n} ranks: pass splits"
            )
        return None
    if isinstance(splits, torch.Tensor):
        if splits.dtype not in (torch.int32, torch.int64):
            raise InvalidArgumentError(f"alltoall splits must be int32, got {splits.dtype}")
        values = [int(v) for v in splits.reshape(-1).tolist()]
    else:
        if not all(isinstance(v, int | np.integer) for v in splits):
            raise InvalidArgumentError(f"alltoall splits must be integers, got {list(splits)}")
        values = [int(v) for v in splits]
    if len(values) != n or min(values) < 0 or sum(values) != rows:
        raise InvalidArgumentError(
            f"alltoall splits {values} must be {n} non-negative row counts summing to the "
            f"first dimension {rows}"
        )
    return values


def alltoall_async(
    tensor: torch.Tensor,
    splits: Any = None,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue an alltoall: rows ``splits[j]`` of ``tensor`` go to rank ``j`` (default: an even
    split). ``synchronize`` returns (received tensor, int32 rows received from each rank)."""
    values = alltoall_splits(tensor, splits, process_set)
    inner = ops.alltoall_async(to_payload(tensor), values, name=name, process_set=process_set)

    def finish(result: Any) -> tuple[torch.Tensor, torch.Tensor]:
        received, counts = result
        return to_tensor(received, tensor), torch.tensor(counts, dtype=torch.int32)

    return TorchHandle(inner, finish)


def _check_scatterable(tensor: torch.Tensor) -> None:
    if not isinstance(tensor, torch.Tensor) or tensor.dim() == 0:
        raise InvalidArgumentError(
            "reducescatter splits the first dimension: pass tensors with at least one "
            f"dimension, got {tensor!r}"
        )


def reducescatter_async(
    tensor: torch.Tensor,
    name: str | None = None,
    op: ReduceOp | str | None = Average,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue a reducescatter: ``synchronize`` returns this rank's slice (an even split of
    dimension 0, extra rows to the first ranks) of ``op`` over every rank's ``tensor``
    times ``prescale_factor``, times ``postscale_factor``."""
    _check_scatterable(tensor)
    inner = ops.reducescatter_async(
        to_numpy(tensor),
        reduce_op(op, None, Average),
        name=name,
        prescale_factor=prescale_factor,
        postscale_factor=postscale_factor,
        process_set=process_set,
    )
    return TorchHandle(inner, lambda a: to_tensor(a, tensor))


def grouped_reducescatter_async(
    tensors: Sequence[torch.Tensor],
    name: str | None = None,
    op: ReduceOp | str | None = Average,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> GroupHandle:
    """Queue a reducescatter of each tensor; ``synchronize`` returns this rank's slices."""
    for tensor in tensors:
        _check_scatterable(tensor)
    handles = [
        reducescatter_async(
            t, member_name(name, i), op, prescale_factor, postscale_factor, process_set
        )
        for i, t in enumerate(tensors)
    ]
    return GroupHandle(handles, name or "grouped_reducescatter")
