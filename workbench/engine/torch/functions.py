"""Model and object helpers: broadcast parameters / optimizer state / objects, gather objects.

All go through the engine thread (as the other collectives do), so a rank that has joined
can stand in for them."""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

from workbench.engine import ops
from workbench.engine.ops import global_process_set
from workbench.engine.process_sets import ProcessSet
from workbench.engine.torch import movement_ops, mpi_ops
from workbench.engine.torch.mpi_ops import set_rank


def broadcast_parameters(params: Any, root_rank: int = 0) -> None:
    """Overwrite every rank's parameters with ``root_rank``'s, in place.

    ``params`` is a ``state_dict()``, ``named_parameters()`` or a list of (name, tensor).
    """
    items: Iterable[tuple[str, Any]]
    items = sorted(params.items()) if isinstance(params, Mapping) else list(params)
    for name, tensor in items:
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"broadcast_parameters: {name!r} is {type(tensor).__name__}, not a tensor"
            )
    # all queued before any is waited for: one negotiation round carries them all
    handles = [
        movement_ops.broadcast_async_(tensor, root_rank, name=f"broadcast.param.{name}")
        for name, tensor in items
    ]
    for handle in handles:
        mpi_ops.synchronize(handle)


def broadcast_optimizer_state(optimizer: torch.optim.Optimizer, root_rank: int = 0) -> None:
    """Give every rank ``root_rank``'s optimizer state (moments, step counts, lr, ...)."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "broadcast_optimizer_state takes a torch.optim.Optimizer, "
            f"got {type(optimizer).__name__}"
        )
    if not optimizer.state_dict()["state"]:
        _create_state(optimizer)
    state = broadcast_object(optimizer.state_dict(), root_rank, name="broadcast.optimizer_state")
    optimizer.load_state_dict(state)


def _create_state(optimizer: torch.optim.Optimizer) -> None:
    """Give an optimizer that never stepped its state (moments, step counts) by one step on
    zero gradients, parameters left as they were, so the root's state has somewhere to go.

    Parameters that require grad and have none get a zero gradient (and keep it), as in
    Horovod; the wrapped optimizer's own ``step`` runs, so nothing is reduced.
    """
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    for param in params:
        if param.grad is None:
            param.grad = torch.zeros_like(param)
    step = getattr(optimizer, "_wb_base", type(optimizer)).step
    with torch.no_grad():
        saved = [p.detach().clone() for p in params]
        step(optimizer)
        for param, value in zip(params, saved, strict=True):
            param.copy_(value)


def _words(raw: bytes) -> np.ndarray[Any, Any]:
    """Pickled bytes as int32 words (the engine moves typed arrays, not bytes)."""
    return np.frombuffer(raw + b"\0" * (-len(raw) % 4), dtype=np.int32)


def _decode(words: np.ndarray[Any, Any], length: int) -> Any:
    return pickle.loads(np.ascontiguousarray(words).tobytes()[:length])  # noqa: S301 (peers)


def broadcast_object(
    obj: Any,
    root_rank: int = 0,
    name: str | None = None,
    process_set: ProcessSet = global_process_set,
) -> Any:
    """``root_rank``'s ``obj`` (any picklable object) on every rank of ``process_set``
    (``root_rank`` is a world rank in the set)."""
    base = name or "broadcast_object"
    ps = {"process_set": process_set}
    set_rank(process_set)  # a clear error on a rank outside the set
    is_root = ops.rank() == root_rank  # a world rank, as in Horovod
    raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if is_root else b""
    size = np.array([len(raw)], np.int64)
    header = ops.synchronize(ops.broadcast_async(size, root_rank, name=base + ".size", **ps))
    length = int(header[0])
    words = _words(raw) if is_root else np.zeros((length + 3) // 4, np.int32)
    data = ops.synchronize(ops.broadcast_async(words, root_rank, name=base + ".data", **ps))
    return _decode(data, length)


def allgather_object(
    obj: Any, name: str | None = None, process_set: ProcessSet = global_process_set
) -> list[Any]:
    """Every rank's ``obj``, by rank (of ``process_set``)."""
    base = name or "allgather_object"
    ps = {"process_set": process_set}
    raw = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    size = np.array([len(raw)], np.int64)
    lengths = ops.synchronize(ops.allgather_async(size, name=base + ".size", **ps))
    words = ops.synchronize(ops.allgather_async(_words(raw), name=base + ".data", **ps))
    ends = np.cumsum([(int(n) + 3) // 4 for n in lengths])
    pieces = np.split(words, ends[:-1])
    return [_decode(p, int(n)) for p, n in zip(pieces, lengths, strict=True)]
