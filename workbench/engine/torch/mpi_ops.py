"""Collectives on torch tensors, with ``horovod.torch``'s names and defaults.

Tensors are handed to the engine as numpy views (no copy for contiguous CPU tensors);
results come back as tensors of the input's dtype and device. bfloat16 travels as its
16-bit pattern. Async calls return a ``TorchHandle`` for ``synchronize`` / ``poll``. Every
collective, blocking or not, is queued on the engine's thread (as in Horovod), so a rank
that called ``join()`` can stand in for it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from workbench.engine import ops
from workbench.engine.background import Handle
from workbench.engine.reduce_ops import ReduceOp

Average = ReduceOp.AVERAGE
Sum = ReduceOp.SUM
Min = ReduceOp.MIN
Max = ReduceOp.MAX
Product = ReduceOp.PRODUCT

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
    return True


def mpi_built() -> bool:
    return True


def gloo_enabled() -> bool:
    return False


def gloo_built() -> bool:
    return False


def nccl_built() -> int:
    """0: no NCCL (GPU tensors are reduced through host memory)."""
    return 0


def cuda_built() -> bool:
    return False


def rocm_built() -> bool:
    return False


class TorchHandle:
    """An async collective on tensors: ``synchronize(handle)`` returns its tensor result."""

    def __init__(self, inner: Handle, finish: Callable[[Any], Any]) -> None:
        self.inner = inner
        self.name = inner.name
        self._finish = finish

    def poll(self) -> bool:
        return self.inner.poll()

    def wait(self, timeout: float | None = None) -> Any:
        return self._finish(self.inner.wait(timeout))


def to_numpy(tensor: torch.Tensor) -> np.ndarray[Any, Any]:
    """A numpy view of ``tensor``'s data (copied to host / made contiguous when needed)."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    data = tensor.detach()
    if data.device.type != "cpu":
        data = data.cpu()
    data = data.contiguous()
    if data.dtype is torch.bfloat16:
        return data.view(torch.int16).numpy().view(np.uint16)
    return data.numpy()


def to_tensor(array: Any, like: torch.Tensor) -> torch.Tensor:
    """``array`` (from the engine) as a tensor with ``like``'s dtype and device."""
    data = np.asarray(array)
    if like.dtype is torch.bfloat16 and data.dtype.itemsize == 2:
        result = torch.from_numpy(data.view(np.int16).copy()).view(torch.bfloat16)
    else:
        result = torch.from_numpy(data if data.flags.c_contiguous else data.copy())
    if result.dtype is not like.dtype:
        result = result.to(like.dtype)  # moved as a wider payload (see ``to_payload``)
    return result.to(like.device)


_MOVED_AS = {
    torch.bool: torch.int32,
    torch.uint8: torch.int32,
    torch.int8: torch.int32,
    torch.int16: torch.int32,
}


def to_payload(tensor: torch.Tensor) -> np.ndarray[Any, Any]:
    """``tensor`` as an array the engine can move unchanged (no arithmetic on it):
    bfloat16 as float16 bit patterns, 1- and 2-byte integers widened to int32."""
    if tensor.dtype is torch.bfloat16:
        return to_numpy(tensor).view(np.float16)
    if tensor.dtype in _MOVED_AS:
        return to_numpy(tensor.to(_MOVED_AS[tensor.dtype]))
    return to_numpy(tensor)


def _bf16(tensor: torch.Tensor) -> bool:
    return tensor.dtype is torch.bfloat16


def _op(op: ReduceOp | str | None, average: bool | None) -> ReduceOp:
    if average is not None:  # Horovod's deprecated flag
        return Average if average else Sum
    return Average if op is None else ReduceOp.parse(op)


def allreduce(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    compression: Any = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
) -> torch.Tensor:
    """``op`` (default ``Average``) of ``tensor`` over all ranks, as a new tensor."""
    result: torch.Tensor = synchronize(
        allreduce_async(
            tensor, average, name, op, prescale_factor, postscale_factor, compression=compression
        )
    )
    return result


def allreduce_(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
) -> torch.Tensor:
    """In-place ``allreduce``: ``tensor`` holds the result."""
    handle = allreduce_async_(tensor, average, name, op, prescale_factor, postscale_factor)
    result: torch.Tensor = synchronize(handle)
    return result


def allreduce_async(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    *,
    compression: Any = None,
) -> TorchHandle:
    """Queue an allreduce (fused with its neighbours); don't modify ``tensor`` until done."""
    if compression is not None:
        sent, ctx = compression.compress(tensor)
    else:
        sent, ctx = tensor, None
    inner = ops.allreduce_async(
        to_numpy(sent),
        _op(op, average),
        name=name,
        prescale_factor=prescale_factor,
        postscale_factor=postscale_factor,
        bfloat16_bits=_bf16(sent),
    )

    def finish(result: Any) -> torch.Tensor:
        out = to_tensor(result, sent)
        return compression.decompress(out, ctx) if compression is not None else out

    return TorchHandle(inner, finish)


def allreduce_async_(
    tensor: torch.Tensor,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
) -> TorchHandle:
    """Queue an in-place allreduce: after ``synchronize`` ``tensor`` holds the result."""
    handle = allreduce_async(tensor, average, name, op, prescale_factor, postscale_factor)
    return _in_place(handle, tensor)


def _in_place(handle: TorchHandle, tensor: torch.Tensor) -> TorchHandle:
    def finish(result: Any) -> torch.Tensor:
        with torch.no_grad():
            tensor.copy_(to_tensor(result, tensor).view_as(tensor))
        return tensor

    return TorchHandle(handle.inner, lambda result: finish(handle._finish(result)))


def grouped_allreduce(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
) -> list[torch.Tensor]:
    """One fused allreduce of many tensors (same dtype); new tensors in the same order."""
    results: list[torch.Tensor] = synchronize(grouped_allreduce_async(tensors, average, name, op))
    return results


def grouped_allreduce_async(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
) -> TorchHandle:
    arrays = [to_numpy(t) for t in tensors]
    bf16 = bool(tensors) and _bf16(tensors[0])
    inner = ops.grouped_allreduce_async(arrays, _op(op, average), name=name, bfloat16_bits=bf16)
    like = list(tensors)
    return TorchHandle(inner, lambda out: [to_tensor(a, t) for a, t in zip(out, like, strict=True)])


def grouped_allreduce_(
    tensors: Sequence[torch.Tensor],
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
) -> list[torch.Tensor]:
    results = grouped_allreduce(tensors, average, name, op)
    with torch.no_grad():
        for tensor, result in zip(tensors, results, strict=True):
            tensor.copy_(result)
    return list(tensors)


def allgather(tensor: torch.Tensor, name: str | None = None) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along dimension 0 (which may differ by rank)."""
    result: torch.Tensor = synchronize(allgather_async(tensor, name))
    return result


def allgather_async(tensor: torch.Tensor, name: str | None = None) -> TorchHandle:
    return TorchHandle(
        ops.allgather_async(to_payload(tensor), name=name), lambda a: to_tensor(a, tensor)
    )


def broadcast(tensor: torch.Tensor, root_rank: int, name: str | None = None) -> torch.Tensor:
    """``root_rank``'s ``tensor`` on every rank, as a new tensor."""
    result: torch.Tensor = synchronize(broadcast_async(tensor, root_rank, name))
    return result


def broadcast_(tensor: torch.Tensor, root_rank: int, name: str | None = None) -> torch.Tensor:
    """In-place ``broadcast``."""
    result = broadcast(tensor, root_rank, name)
    with torch.no_grad():
        tensor.copy_(result)
    return tensor


def broadcast_async(tensor: torch.Tensor, root_rank: int, name: str | None = None) -> TorchHandle:
    inner = ops.broadcast_async(to_payload(tensor), root_rank, name=name)
    return TorchHandle(inner, lambda a: to_tensor(a, tensor))


def broadcast_async_(tensor: torch.Tensor, root_rank: int, name: str | None = None) -> TorchHandle:
    return _in_place(broadcast_async(tensor, root_rank, name), tensor)


def alltoall(tensor: torch.Tensor, splits: Any = None, name: str | None = None) -> Any:
    """Rows ``splits[j]`` of ``tensor`` go to rank ``j`` (default: an even split).

    Returns the received tensor, plus the rows received from each rank when ``splits``
    was given (as Horovod does).
    """
    if isinstance(splits, torch.Tensor):
        splits = splits.tolist()
    received, counts = ops.synchronize(ops.alltoall_async(to_payload(tensor), splits, name=name))
    output = to_tensor(received, tensor)
    if splits is None:
        return output
    return output, torch.tensor(counts, dtype=torch.int32)


def reducescatter(
    tensor: torch.Tensor, op: ReduceOp | str | None = None, name: str | None = None
) -> torch.Tensor:
    """This rank's slice (an even split of dimension 0) of ``op`` (default ``Average``)."""
    handle = ops.reducescatter_async(to_numpy(tensor), _op(op, None), name=name)
    return to_tensor(ops.synchronize(handle), tensor)


def synchronize(handle: TorchHandle) -> Any:
    """Wait for an async collective; returns its tensor result (re-raising its error)."""
    if not isinstance(handle, TorchHandle):
        raise TypeError(
            f"synchronize() takes a handle from an *_async call, got {type(handle).__name__}"
        )
    return handle.wait()


def poll(handle: TorchHandle) -> bool:
    """True once the async collective finished (``synchronize`` will not block)."""
    return handle.poll()


def barrier() -> None:
    ops.synchronize(ops.barrier_async())


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
