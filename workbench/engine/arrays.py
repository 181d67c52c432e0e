"""Turning user arrays into the flat, contiguous payloads collectives move, and back.

Validation problems become ``FlatInput.error`` strings instead of exceptions so the caller
can report them through ``negotiation.CallCheck``: then every rank raises, not just this one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import ElementType, as_payload, element_type_of


@dataclass
class FlatInput:
    """A user array as a flat payload (a view when it was contiguous, else a copy)."""

    payload: npt.NDArray[Any]
    etype: ElementType | None
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    error: str | None = None

    @property
    def etype_name(self) -> str:
        return self.etype.name if self.etype else str(self.dtype)

    def restore(self, flat: npt.NDArray[Any], shape: tuple[int, ...] | None = None) -> Any:
        """``flat`` (payload dtype) viewed with the caller's dtype and ``shape``."""
        viewed = flat if flat.dtype == self.dtype else flat.view(self.dtype)
        return viewed.reshape(self.shape if shape is None else shape)

    @property
    def row_size(self) -> int:
        """Elements per index of the first dimension (1 for scalars)."""
        return math.prod(self.shape[1:]) if self.shape else 1

    @property
    def rows(self) -> int:
        return self.shape[0] if self.shape else 1


def flatten(array: Any, *, bfloat16_bits: bool = False) -> FlatInput:
    """``array`` as a ``FlatInput``; unsupported dtypes yield ``error`` instead of raising."""
    data = array if isinstance(array, np.ndarray) else np.asarray(array)
    shape = data.shape
    try:
        etype = element_type_of(data, bfloat16_bits=bfloat16_bits)
    except EngineError as exc:
        return FlatInput(data.reshape(-1), None, shape, data.dtype, error=str(exc))
    contiguous = data if data.flags.c_contiguous else np.ascontiguousarray(data)
    payload = as_payload(contiguous, etype).reshape(-1)
    return FlatInput(payload, etype, shape, data.dtype)


def output_payload(
    out: Any, source: FlatInput, shape: tuple[int, ...] | None = None
) -> tuple[npt.NDArray[Any] | None, str | None]:
    """``out``'s flat payload view if it can receive the result, else an error to report."""
    if out is None or source.etype is None:
        return None, None
    want = source.shape if shape is None else shape
    if not isinstance(out, np.ndarray):
        return None, f"out must be a numpy array, got {type(out).__name__}"
    if out.shape != want or out.dtype != source.dtype:
        have, result = f"{out.dtype}{list(out.shape)}", f"{source.dtype}{list(want)}"
        return None, f"out is {have}, the result is {result}"
    if not out.flags.c_contiguous:
        return None, "out must be C-contiguous (use np.ascontiguousarray)"
    return as_payload(out, source.etype).reshape(-1), None


def row_splits(rows: int, splits: Any, size: int, what: str) -> tuple[list[int], str | None]:
    """Rows per rank: ``splits`` checked against ``rows``, or an even split (extra rows first)."""
    if splits is None:
        base, extra = divmod(rows, size)
        return [base + (1 if r < extra else 0) for r in range(size)], None
    values = [int(v) for v in np.asarray(splits).reshape(-1)]
    if len(values) != size or any(v < 0 for v in values) or sum(values) != rows:
        return [0] * size, (
            f"{what} splits {values} must be {size} non-negative row counts summing to the "
            f"first dimension {rows}"
        )
    return values, None


def same_memory(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    """Whether ``a`` and ``b`` are the same bytes (same start, same length)."""
    return bool(
        a.nbytes == b.nbytes
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )
