"""The blocking collectives, differentiable as Horovod's are.

Each is a ``torch.autograd.Function`` whose backward runs the adjoint collective on every
rank (so every rank must run backward through the same collectives, as it ran forward):

- ``allreduce``: the gradient is allreduced with the same op and scale factors.
- ``allgather``: the gradient is averaged over ranks and this rank's rows are sliced out.
- ``broadcast``: the gradient is averaged over ranks on the root; other ranks get zeros.
- ``alltoall``: the gradient goes back with an alltoall of the rows received.
- ``reducescatter``: the gradient slices are allgathered (times ``size()`` for ``Sum``,
  as Horovod defines it) and scaled by both scale factors.

Grouped variants do the same per tensor, in one grouped call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from workbench.engine import ops
from workbench.engine.ops import global_process_set
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.torch import movement_ops as mv
from workbench.engine.torch.mpi_ops import (
    Average,
    Sum,
    allreduce_async,
    grouped_allreduce_async,
    reduce_op,
    set_rank,
    set_size,
)
from workbench.engine.torch.tensors import scaled


def _apply(function: type[torch.autograd.Function], *args: Any) -> Any:
    return function.apply(*args)  # type: ignore[no-untyped-call]


def _grad_name(name: str | None) -> str | None:
    return None if name is None else f"{name}.grad"


def _averaged(
    grads: Sequence[torch.Tensor], name: str | None, ps: ProcessSet
) -> list[torch.Tensor]:
    results: list[torch.Tensor] = grouped_allreduce_async(
        [g.contiguous() for g in grads], name=_grad_name(name), op=Average, process_set=ps
    ).wait()
    return results


class _Allreduce(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        tensor: torch.Tensor,
        op: ReduceOp,
        name: Any,
        pre: float,
        post: float,
        ps: ProcessSet,
    ) -> Any:
        ctx.op, ctx.name, ctx.scales, ctx.ps = op, name, (pre, post), ps
        return allreduce_async(tensor, None, name, op, pre, post, ps).wait()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        pre, post = ctx.scales
        name = _grad_name(ctx.name)
        handle = allreduce_async(grad.contiguous(), None, name, ctx.op, pre, post, ctx.ps)
        return handle.wait(), None, None, None, None, None


class _GroupedAllreduce(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        op: ReduceOp,
        name: Any,
        pre: float,
        post: float,
        ps: ProcessSet,
        *tensors: torch.Tensor,
    ) -> Any:
        ctx.op, ctx.name, ctx.scales, ctx.ps = op, name, (pre, post), ps
        return tuple(grouped_allreduce_async(tensors, None, name, op, pre, post, ps).wait())

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        pre, post = ctx.scales
        sent = [g.contiguous() for g in grads]
        name = _grad_name(ctx.name)
        handle = grouped_allreduce_async(sent, None, name, ctx.op, pre, post, ctx.ps)
        return (None, None, None, None, None, *handle.wait())


def _my_rows(grad: torch.Tensor, rows: list[int], scalar: bool, me: int) -> torch.Tensor:
    if scalar:
        return grad[me]
    start = sum(rows[:me])
    return grad[start : start + rows[me]]


class _Allgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, name: Any, ps: ProcessSet) -> Any:
        gathered, rows = mv.allgather_rows_async(tensor, name, ps).wait()
        ctx.rows, ctx.name, ctx.scalar, ctx.ps = rows, name, tensor.dim() == 0, ps
        return gathered

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (averaged,) = _averaged([grad], ctx.name, ctx.ps)
        return _my_rows(averaged, ctx.rows, ctx.scalar, set_rank(ctx.ps)), None, None


class _GroupedAllgather(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, name: Any, ps: ProcessSet, *tensors: torch.Tensor) -> Any:
        handles = [
            mv.allgather_rows_async(t, mv.member_name(name, i), ps) for i, t in enumerate(tensors)
        ]
        ctx.ps = ps
        results = [h.wait() for h in handles]
        ctx.rows = [rows for _, rows in results]
        ctx.scalars = [t.dim() == 0 for t in tensors]
        ctx.name = name
        return tuple(gathered for gathered, _ in results)

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        averaged = _averaged(grads, ctx.name, ctx.ps)
        me = set_rank(ctx.ps)
        parts = zip(averaged, ctx.rows, ctx.scalars, strict=True)
        return (None, None, *(_my_rows(g, r, s, me) for g, r, s in parts))


class _Broadcast(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, root: int, name: Any, ps: ProcessSet) -> Any:
        ctx.root, ctx.name, ctx.ps = root, name, ps
        return mv.broadcast_async(tensor, root, name, ps).wait()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        (averaged,) = _averaged([grad], ctx.name, ctx.ps)
        if ops.rank() != ctx.root:  # the root is a world rank, as in Horovod
            averaged = torch.zeros_like(averaged)
        return averaged, None, None, None


class _Alltoall(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor, splits: Any, name: Any, ps: ProcessSet) -> Any:
        received, counts = mv.alltoall_async(tensor, splits, name, ps).wait()
        ctx.counts, ctx.name, ctx.ps = [int(c) for c in counts.tolist()], name, ps
        ctx.mark_non_differentiable(counts)
        return received, counts

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor, _counts: Any) -> Any:
        name = _grad_name(ctx.name)
        back, _ = mv.alltoall_async(grad.contiguous(), ctx.counts, name, ctx.ps).wait()
        return back, None, None, None


def _scatter_grad_factor(op: ReduceOp, pre: float, post: float, ps: ProcessSet) -> float:
    return (set_size(ps) if op is Sum else 1.0) * pre * post


class _Reducescatter(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        tensor: torch.Tensor,
        name: Any,
        op: ReduceOp,
        pre: float,
        post: float,
        ps: ProcessSet,
    ) -> Any:
        ctx.name, ctx.factor, ctx.ps = name, _scatter_grad_factor(op, pre, post, ps), ps
        return mv.reducescatter_async(tensor, name, op, pre, post, ps).wait()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        gathered = mv.allgather_async(grad.contiguous(), _grad_name(ctx.name), ctx.ps).wait()
        return scaled(gathered, ctx.factor), None, None, None, None, None


class _GroupedReducescatter(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        name: Any,
        op: ReduceOp,
        pre: float,
        post: float,
        ps: ProcessSet,
        *tensors: torch.Tensor,
    ) -> Any:
        ctx.name, ctx.factor, ctx.ps = name, _scatter_grad_factor(op, pre, post, ps), ps
        return tuple(mv.grouped_reducescatter_async(tensors, name, op, pre, post, ps).wait())

    @staticmethod
    def backward(ctx: Any, *grads: torch.Tensor) -> Any:
        sent = [g.contiguous() for g in grads]
        gathered = mv.grouped_allgather_async(sent, _grad_name(ctx.name), ctx.ps).wait()
        return (None, None, None, None, None, *(scaled(g, ctx.factor) for g in gathered))


def _compressed(tensor: torch.Tensor, compression: Any) -> tuple[torch.Tensor, Any]:
    if compression is None:
        return tensor, None
    sent, ctx = compression.compress(tensor)
    return sent, ctx


def _decompressed(tensor: torch.Tensor, ctx: Any, compression: Any) -> torch.Tensor:
    return tensor if compression is None else compression.decompress(tensor, ctx)


def allreduce(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    compression: Any = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> torch.Tensor:
    """``op`` (default ``Average``) of ``tensor`` over ``process_set``'s ranks, times
    ``prescale_factor`` before and ``postscale_factor`` after, as a new tensor
    (differentiable)."""
    sent, ctx = _compressed(tensor, compression)
    the_op = reduce_op(op, average, Average)
    out = _apply(_Allreduce, sent, the_op, name, prescale_factor, postscale_factor, process_set)
    return _decompressed(out, ctx, compression)


def grouped_allreduce(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    compression: Any = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> list[torch.Tensor]:
    """One fused allreduce of many tensors (same dtype); new tensors in the same order
    (differentiable)."""
    pairs = [_compressed(t, compression) for t in tensors]
    the_op = reduce_op(op, average, Average)
    scales = (prescale_factor, postscale_factor)
    outs = _apply(_GroupedAllreduce, the_op, name, *scales, process_set, *(s for s, _ in pairs))
    return [_decompressed(o, c, compression) for o, (_, c) in zip(outs, pairs, strict=True)]


def allgather(
    tensor: torch.Tensor, name: str | None = None, process_set: ProcessSet = global_process_set
) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along dimension 0 (whose length may differ by
    rank), as a new tensor (differentiable)."""
    result: torch.Tensor = _apply(_Allgather, tensor, name, process_set)
    return result


def grouped_allgather(
    tensors: Sequence[torch.Tensor],
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> list[torch.Tensor]:
    """``allgather`` of each tensor, negotiated together (differentiable)."""
    return list(_apply(_GroupedAllgather, name, process_set, *tensors))


def broadcast(
    tensor: torch.Tensor,
    root_rank: int,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> torch.Tensor:
    """``root_rank``'s ``tensor`` on every rank, as a new tensor (differentiable)."""
    result: torch.Tensor = _apply(_Broadcast, tensor, root_rank, name, process_set)
    return result


def alltoall(
    tensor: torch.Tensor,
    splits: Any = None,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> Any:
    """Rows ``splits[j]`` of ``tensor`` go to rank ``j`` (default: an even split, which the
    first dimension must allow); differentiable.

    Returns the received tensor, plus the int32 rows received from each rank when
    ``splits`` was given (as Horovod does).
    """
    received, counts = _apply(_Alltoall, tensor, splits, name, process_set)
    return received if splits is None else (received, counts)


def reducescatter(
    tensor: torch.Tensor,
    name: str | None = None,
    compression: Any = None,
    op: ReduceOp | str | None = Average,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> torch.Tensor:
    """This rank's slice (an even split of dimension 0, extra rows to the first ranks) of
    ``op`` (default ``Average``) over every rank's ``tensor``, with scale factors as
    ``allreduce``'s (differentiable)."""
    sent, ctx = _compressed(tensor, compression)
    the_op = reduce_op(op, None, Average)
    scales = (prescale_factor, postscale_factor)
    out = _apply(_Reducescatter, sent, name, the_op, *scales, process_set)
    return _decompressed(out, ctx, compression)


def grouped_reducescatter(
    tensors: Sequence[torch.Tensor],
    name: str | None = None,
    compression: Any = None,
    op: ReduceOp | str | None = Average,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> list[torch.Tensor]:
    """``reducescatter`` of each tensor, negotiated together (differentiable)."""
    pairs = [_compressed(t, compression) for t in tensors]
    the_op = reduce_op(op, None, Average)
    outs = _apply(
        _GroupedReducescatter,
        name,
        the_op,
        prescale_factor,
        postscale_factor,
        process_set,
        *(s for s, _ in pairs),
    )
    return [_decompressed(o, c, compression) for o, (_, c) in zip(outs, pairs, strict=True)]
