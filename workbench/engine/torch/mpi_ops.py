"""The runtime (``init``, ranks, what is built) and the allreduce family on torch tensors,
with ``horovod.torch``'s names and defaults.

Async calls return a ``TorchHandle`` for ``synchronize`` / ``poll``; they are not
differentiable (as in Horovod); the blocking ``allreduce`` / ``grouped_allreduce`` are (see
``autograd.py``). Every collective, blocking or not, is queued on the engine's thread (as in
Horovod), so a rank that called ``join()`` can stand in for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import torch

from workbench.engine import ops
from workbench.engine.errors import InvalidProcessSetError, UnsupportedOpError
from workbench.engine.ops import global_process_set
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.torch.tensors import GroupHandle, TorchHandle, is_bf16, to_numpy, to_tensor

Average = ReduceOp.AVERAGE
Sum = ReduceOp.SUM
Min = ReduceOp.MIN
Max = ReduceOp.MAX
Product = ReduceOp.PRODUCT
Adasum = "adasum"  # Horovod's name; the engine has no Adasum: ops given it raise

shutdown = ops.shutdown
is_initialized = ops.is_initialized
rank = ops.rank
size = ops.size
local_rank = ops.local_rank
local_size = ops.local_size
cross_rank = ops.cross_rank
cross_size = ops.cross_size


def init(comm: Any = None, **options: Any) -> Any:
    """Start the engine (idempotent); options as ``workbench.engine.init``.

    Each rank runs a communication thread beside its compute thread, so when two threads
    per local rank outnumber the cores, Open MPI is told to yield instead of busy-polling
    (``OMPI_MCA_mpi_yield_when_idle=1`` unless set): a spinning wait would take the core
    from this rank's own backward pass.
    """
    local = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", "0"))
    if "mpi4py.MPI" not in sys.modules and 2 * local > len(os.sched_getaffinity(0)):
        os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    return ops.init(comm, **options)


def mpi_threads_supported() -> bool:
    """Whether MPI allows calls from more than one thread (the engine serialises them)."""
    return True


def mpi_enabled() -> bool:
    """True: collectives run over MPI."""
    return True


def mpi_built() -> bool:
    """True: the engine is built on MPI (mpi4py)."""
    return True


def gloo_enabled() -> bool:
    """False: there is no Gloo controller."""
    return False


def gloo_built() -> bool:
    """False: there is no Gloo controller."""
    return False


def nccl_built() -> int:
    """0: no NCCL (GPU tensors are reduced through host memory)."""
    return 0


def ccl_built() -> bool:
    """False: no oneCCL."""
    return False


def ddl_built() -> bool:
    """False: no IBM DDL library (the engine's own rings do its job)."""
    return False


def cuda_built() -> bool:
    """False: no CUDA kernels in the engine (CUDA tensors are staged through host memory)."""
    return False


def rocm_built() -> bool:
    """False: no ROCm kernels in the engine."""
    return False


def set_rank(process_set: ProcessSet) -> int:
    """This rank's index in ``process_set`` (a clear error when it is not in it)."""
    ops.current()
    rank_in_set = process_set.rank()
    if rank_in_set is None:
        raise InvalidProcessSetError(
            f"rank {ops.rank()} is not in {process_set!r}: only its members call its collectives"
        )
    return rank_in_set


def set_size(process_set: ProcessSet) -> int:
    ops.current()
    size_of_set = process_set.size()
    return ops.size() if size_of_set is None else size_of_set


def reduce_op(op: ReduceOp | str | None, average: bool | None, default: ReduceOp) -> ReduceOp:
    """The op of a call: Horovod's deprecated ``average`` flag wins, then ``op``, then
    ``default``; ``Adasum`` is refused."""
    if average is not None:
        return Average if average else Sum
    if op is None:
        return default
    if isinstance(op, str) and op.lower() == Adasum:
        raise UnsupportedOpError(
            "Adasum is not provided by the workbench engine; use Average (or Sum)"
        )
    return ReduceOp.parse(op)


def allreduce_async(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
    *,
    compression: Any = None,
) -> TorchHandle:
    """Queue ``op`` (default ``Average``) of ``tensor`` over ``process_set``'s ranks, times
    ``prescale_factor`` before and ``postscale_factor`` after; fused with its neighbours.
    Don't modify ``tensor`` until ``synchronize`` returned the new tensor."""
    if compression is not None:
        sent, ctx = compression.compress(tensor)
    else:
        sent, ctx = tensor, None
    inner = ops.allreduce_async(
        to_numpy(sent),
        reduce_op(op, average, Average),
        name=name,
        prescale_factor=prescale_factor,
        postscale_factor=postscale_factor,
        bfloat16_bits=is_bf16(sent),
        process_set=process_set,
    )

    def finish(result: Any) -> torch.Tensor:
        out = to_tensor(result, sent)
        return compression.decompress(out, ctx) if compression is not None else out

    return TorchHandle(inner, finish)


def allreduce_(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> torch.Tensor:
    """In-place ``allreduce``: ``tensor`` holds the result (not differentiable)."""
    handle = allreduce_async_(
        tensor, average, name, op, prescale_factor, postscale_factor, process_set
    )
    result: torch.Tensor = synchronize(handle)
    return result


def allreduce_async_(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue an in-place allreduce: after ``synchronize`` ``tensor`` holds the result."""
    handle = allreduce_async(
        tensor, average, name, op, prescale_factor, postscale_factor, process_set
    )
    return in_place(handle, tensor)


def in_place(handle: TorchHandle, tensor: torch.Tensor) -> TorchHandle:
    """``handle`` whose result is copied into ``tensor`` (which ``synchronize`` returns)."""

    def finish(result: Any) -> torch.Tensor:
        with torch.no_grad():
            tensor.copy_(to_tensor(result, tensor).view_as(tensor))
        return tensor

    return TorchHandle(handle.inner, lambda result: finish(handle._finish(result)))


def grouped_allreduce_async(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue one fused allreduce of many tensors (same dtype); ``synchronize`` returns new
    tensors in the same order."""
    arrays = [to_numpy(t) for t in tensors]
    inner = ops.grouped_allreduce_async(
        arrays,
        reduce_op(op, average, Average),
        name=name,
        prescale_factor=prescale_factor,
        postscale_factor=postscale_factor,
        bfloat16_bits=bool(tensors) and is_bf16(tensors[0]),
        process_set=process_set,
    )
    like = list(tensors)
    return TorchHandle(inner, lambda out: [to_tensor(a, t) for a, t in zip(out, like, strict=True)])


def grouped_allreduce_(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> list[torch.Tensor]:
    """In-place ``grouped_allreduce``: each tensor holds its result (not differentiable)."""
    handle = grouped_allreduce_async_(
        tensors, average, name, op, prescale_factor, postscale_factor, process_set
    )
    results: list[torch.Tensor] = synchronize(handle)
    return results


def grouped_allreduce_async_(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet = global_process_set,
) -> TorchHandle:
    """Queue an in-place grouped allreduce: after ``synchronize`` each tensor holds its result."""
    handle = grouped_allreduce_async(
        tensors, average, name, op, prescale_factor, postscale_factor, process_set
    )
    like = list(tensors)

    def finish(results: list[torch.Tensor]) -> list[torch.Tensor]:
        with torch.no_grad():
            for tensor, result in zip(like, results, strict=True):
                tensor.copy_(result.view_as(tensor))
        return like

    return TorchHandle(handle.inner, lambda out: finish(handle._finish(out)))


def synchronize(handle: TorchHandle | GroupHandle) -> Any:
    """Wait for an async collective; returns its tensor result (re-raising its error)."""
    if not isinstance(handle, TorchHandle | GroupHandle):
        raise TypeError(
            f"synchronize() takes a handle from an *_async call, got {type(handle).__name__}"
        )
    return handle.wait()


def poll(handle: TorchHandle | GroupHandle) -> bool:
    """True once the async collective finished (``synchronize`` will not block)."""
    return handle.poll()


def barrier(process_set: ProcessSet = global_process_set) -> None:
    """Block until every rank of ``process_set`` reached the barrier (after this rank's
    queued collectives)."""
    ops.synchronize(ops.barrier_async(process_set=process_set))


def join(device: int = -1) -> int:
    """This rank has no more data: block until every rank has joined; returns the rank that
    joined last (the highest of those that joined at once), the same on every rank.

    Meanwhile the ranks that have not joined keep training: this rank takes part in their
    allreduces with zeros (``Average`` still divides by ``size()``, so their result is the
    sum over the ranks that have not joined divided by ``size()``), receives and discards
    their broadcasts and adds no rows to their allgathers. Any other collective (alltoall,
    reducescatter, barrier, Min/Max/Product allreduce, a broadcast whose root has joined)
    issued while some rank has joined raises ``JoinError`` on every rank. ``device`` is
    accepted for Horovod compatibility (tensors are staged through host memory anyway).
    """
    del device
    return ops.join()
