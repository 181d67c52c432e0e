"""CUDA tensors reach the engine through pinned host memory, copied asynchronously.

The engine reduces on the host (numpy rings over MPI), so a CUDA gradient has to reach host
memory either way; CUDA-aware MPI would save nothing here. What matters is when the copy
runs: :func:`stage_out` starts it on a side stream as soon as backward produced the
gradient, into a pinned buffer (so it is a real DMA, not a staged pageable copy), and hands
back an event; the engine thread waits on that event just before the ring reads the buffer.
Backward meanwhile goes on. :func:`to_device` brings a result back the same way: a host
copy into a pinned buffer, then a non-blocking copy on the stream that will use it.

Pinned buffers are pooled by size (a training step asks for the same sizes every time)
and reused only once the copy that last used them has finished.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_BITS = {torch.bfloat16: torch.int16}  # dtypes numpy lacks travel as same-size integers


class PinnedPool:
    """Pinned host buffers by byte size; one is reused once its last copy has finished."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: defaultdict[int, list[tuple[torch.Tensor, Any]]] = defaultdict(list)

    def take(self, nbytes: int) -> torch.Tensor:
        with self._lock:
            free = self._free[nbytes]
            for i, (buffer, event) in enumerate(free):
                if event is None or event.query():
                    del free[i]
                    return buffer
        return torch.empty((nbytes,), dtype=torch.uint8, pin_memory=True)

    def give(self, buffer: torch.Tensor, after: Any = None) -> None:
        """Return ``buffer``; it is handed out again once event ``after`` has completed."""
        with self._lock:
            self._free[buffer.numel()].append((buffer, after))


POOL = PinnedPool()
_STREAMS: dict[int, Any] = {}


def side_stream(device: torch.device) -> Any:
    index = device.index if device.index is not None else torch.cuda.current_device()
    stream = _STREAMS.get(index)
    if stream is None:
        stream = _STREAMS[index] = torch.cuda.Stream(device=index)  # type: ignore[no-untyped-call]
    return stream


def _numpy_view(buffer: torch.Tensor, dtype: torch.dtype, shape: torch.Size) -> Any:
    """A numpy array over a pinned byte buffer, as the engine expects ``dtype`` payloads."""
    if dtype in _BITS:
        return buffer.view(_BITS[dtype]).numpy().view(np.uint16).reshape(shape)
    return buffer.view(dtype).numpy().reshape(shape)


@dataclass
class Staged:
    """Host copies of some CUDA tensors, ready once ``wait()`` returns."""

    arrays: list[Any]  # numpy views of the pinned buffers, in the tensors' order
    buffers: list[torch.Tensor]
    event: Any

    def wait(self) -> None:
        self.event.synchronize()

    def release(self) -> None:
        """Give the buffers back (the engine is done reading them)."""
        for buffer in self.buffers:
            POOL.give(buffer)
        self.buffers = []


def stage_out(tensors: list[torch.Tensor]) -> Staged:
    """Start copying ``tensors`` (all on one CUDA device) into pinned host buffers."""
    device = tensors[0].device
    stream = side_stream(device)
    stream.wait_stream(torch.cuda.current_stream(device))  # the values exist by now
    buffers, arrays = [], []
    with torch.cuda.stream(stream):
        for tensor in tensors:
            src = tensor.detach().contiguous()
            nbytes = src.numel() * src.element_size()
            buffer = POOL.take(nbytes)
            buffer.copy_(src.reshape(-1).view(torch.uint8), non_blocking=True)
            src.record_stream(stream)  # its block is not reused before the copy ran
            buffers.append(buffer)
            arrays.append(_numpy_view(buffer, src.dtype, src.shape))
        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record(stream)
    return Staged(arrays, buffers, event)


def to_device(array: Any, like: torch.Tensor) -> torch.Tensor:
    """``array`` (an engine result on the host) as a tensor shaped and typed like ``like``,
    on its device; the copy is queued on the current stream, not waited for."""
    data = np.ascontiguousarray(array)
    if like.dtype in _BITS:  # bit patterns as uint16: to torch through a signed view
        host = torch.from_numpy(data.view(np.int16)).view(like.dtype)
    else:
        host = torch.from_numpy(data)
    if host.dtype is not like.dtype:
        host = host.to(like.dtype)
    nbytes = host.numel() * host.element_size()
    buffer = POOL.take(nbytes)
    buffer.view(host.dtype).copy_(host.reshape(-1))
    out = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    out.view(-1).copy_(buffer.view(host.dtype), non_blocking=True)
    done = torch.cuda.Event()  # type: ignore[no-untyped-call]
    done.record(torch.cuda.current_stream(like.device))
    POOL.give(buffer, after=done)
    return out
