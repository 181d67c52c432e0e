"""Torch tensors to and from the engine's numpy arrays, and the handle of an async call.

Tensors are handed to the engine as numpy views (no copy for contiguous CPU tensors);
results come back as tensors of the input's dtype and device. bfloat16 travels as its
16-bit pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from workbench.engine.background import Handle


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


class GroupHandle:
    """Several async collectives waited for as one: ``wait()`` returns their results."""

    def __init__(self, handles: list[TorchHandle], name: str) -> None:
        self.handles = handles
        self.name = name

    def poll(self) -> bool:
        return all(h.poll() for h in self.handles)

    def wait(self, timeout: float | None = None) -> list[Any]:
        return [h.wait(timeout) for h in self.handles]


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


def is_bf16(tensor: torch.Tensor) -> bool:
    return tensor.dtype is torch.bfloat16


def scaled(tensor: torch.Tensor, factor: float) -> torch.Tensor:
    """``tensor * factor`` in Horovod's arithmetic: integers in float64 truncated toward zero,
    float16 / bfloat16 in float32, other floats in their own dtype; one rounding at the end."""
    if factor == 1.0:
        return tensor
    if not tensor.dtype.is_floating_point:
        return (tensor.double() * factor).trunc().to(tensor.dtype)
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return (tensor.float() * factor).to(tensor.dtype)
    return tensor * factor
