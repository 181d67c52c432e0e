"""Tensor fusion: many small allreduces packed into one flat buffer, one collective, unpacked.

A collective on 4 KiB is all latency (a metadata check, ring steps, Python calls); packing
200 of them into one 800 KiB buffer pays that latency once. ``plan_batches`` groups
consecutive compatible requests (same element type, op and scale factors) up to a byte
threshold; ``FusionBuffer`` owns the reusable packing buffer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import ElementType, as_payload, element_type_of

FUSION_THRESHOLD_ENV = "WORKBENCH_FUSION_THRESHOLD"
DEFAULT_FUSION_THRESHOLD = 64 << 20


def fusion_threshold_from_env() -> int:
    return int(os.environ.get(FUSION_THRESHOLD_ENV, DEFAULT_FUSION_THRESHOLD))


def plan_batches(
    keys: Sequence[Hashable | None], sizes: Sequence[int], threshold: int
) -> list[list[int]]:
    """Indices grouped into batches of consecutive items with equal, non-None ``keys``.

    A batch holds at most ``threshold`` bytes unless one item alone is larger; ``None``
    keys (collectives that do not fuse) always stand alone.
    """
    batches: list[list[int]] = []
    current: list[int] = []
    current_key: Hashable | None = None
    current_bytes = 0
    for index, (key, nbytes) in enumerate(zip(keys, sizes, strict=True)):
        fits = current and key is not None and key == current_key
        if fits and current_bytes + nbytes <= threshold:
            current.append(index)
            current_bytes += nbytes
            continue
        if current:
            batches.append(current)
        current, current_key, current_bytes = [index], key, nbytes
    if current:
        batches.append(current)
    return batches


@dataclass
class TensorGroup:
    """Arrays to fuse, as payload views, with what is needed to hand results back."""

    payloads: list[npt.NDArray[Any]]
    shapes: list[tuple[int, ...]]
    dtype: np.dtype[Any] | None  # the callers' dtype (None for an empty group)
    etype: ElementType | None
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(p.size for p in self.payloads)


def tensor_group(arrays: Sequence[Any], *, bfloat16_bits: bool = False) -> TensorGroup:
    """``arrays`` checked for one supported dtype; problems land in ``error``."""
    datas = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in arrays]
    shapes = [d.shape for d in datas]
    if not datas:
        return TensorGroup([], [], None, None)
    dtypes = {d.dtype for d in datas}
    if len(dtypes) > 1:
        names = sorted(str(d) for d in dtypes)
        return TensorGroup(datas, shapes, None, None, f"fused arrays need one dtype, got {names}")
    try:
        etype = element_type_of(datas[0], bfloat16_bits=bfloat16_bits)
    except EngineError as exc:
        return TensorGroup(datas, shapes, datas[0].dtype, None, str(exc))
    payloads = [as_payload(d, etype) for d in datas]
    return TensorGroup(payloads, shapes, datas[0].dtype, etype)


class FusionBuffer:
    """A growable flat buffer that tensors are packed into and unpacked from.

    ``allocate`` makes the storage (the shm topology hands out shared memory, so the packed
    buffer is reduced in place); growing calls it, so with shared memory every rank must
    pack the same number of bytes, which fused allreduces do.
    """

    def __init__(self, allocate: Callable[[int], npt.NDArray[np.uint8]] | None = None) -> None:
        self._allocate = allocate or (lambda n: np.empty(n, dtype=np.uint8))
        self._raw: npt.NDArray[np.uint8] = np.empty(0, dtype=np.uint8)

    def pack(self, arrays: Sequence[npt.NDArray[Any]], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
        """One flat ``dtype`` view holding every array's elements back to back."""
        total = sum(a.size for a in arrays)
        nbytes = total * dtype.itemsize
        if self._raw.nbytes < nbytes:
            self._raw = self._allocate(max(nbytes, 2 * self._raw.nbytes))
        flat = self._raw[:nbytes].view(dtype)
        if arrays:
            np.concatenate(arrays, axis=None, out=flat)
        return flat

    @staticmethod
    def unpack(flat: npt.NDArray[Any], group: TensorGroup) -> list[npt.NDArray[Any]]:
        """Each array's result: pieces of one fresh copy of ``flat``, in the callers' dtype."""
        result = flat.copy()
        if group.dtype is not None and result.dtype != group.dtype:
            result = result.view(group.dtype)
        out: list[npt.NDArray[Any]] = []
        offset = 0
        for payload, shape in zip(group.payloads, group.shapes, strict=True):
            out.append(result[offset : offset + payload.size].reshape(shape))
            offset += payload.size
        return out
