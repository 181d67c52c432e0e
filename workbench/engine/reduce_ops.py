"""Reduction ops x element types: the kernels the ring applies to each received chunk.

Element types: float16, bfloat16 (``uint16`` payload, float32 arithmetic), float32, float64,
int32, int64. Ops: sum, average (sum, then divide by the rank count at the end), min, max,
product. Integer average truncates toward zero (as Horovod and C do: -7 / 2 is -3); integer
scale factors are applied in float64 and truncated toward zero, float16 ones in float32
(one rounding, as Horovod's CPU path does). Integer sums wrap on overflow, as in MPI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine import bfloat16
from workbench.engine.errors import UnsupportedDtypeError, UnsupportedOpError


class ReduceOp(enum.Enum):
    SUM = "sum"
    AVERAGE = "average"
    MIN = "min"
    MAX = "max"
    PRODUCT = "product"

    @property
    def code(self) -> int:
        return list(ReduceOp).index(self) + 1

    @classmethod
    def parse(cls, value: ReduceOp | str) -> ReduceOp:
        if isinstance(value, ReduceOp):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            names = ", ".join(op.value for op in cls)
            raise UnsupportedOpError(f"unknown reduce op {value!r}; use one of {names}") from None


_UFUNCS: dict[ReduceOp, np.ufunc] = {
    ReduceOp.SUM: np.add,
    ReduceOp.AVERAGE: np.add,
    ReduceOp.MIN: np.minimum,
    ReduceOp.MAX: np.maximum,
    ReduceOp.PRODUCT: np.multiply,
}


@dataclass(frozen=True, eq=False)  # one instance per type: identity compares, hashes fast
class ElementType:
    """How an element travels (``payload``) and is computed on."""

    name: str
    code: int
    payload: np.dtype[Any]
    is_float: bool


FLOAT16 = ElementType("float16", 1, np.dtype(np.float16), True)
BFLOAT16 = ElementType("bfloat16", 2, np.dtype(np.uint16), True)
FLOAT32 = ElementType("float32", 3, np.dtype(np.float32), True)
FLOAT64 = ElementType("float64", 4, np.dtype(np.float64), True)
INT32 = ElementType("int32", 5, np.dtype(np.int32), False)
INT64 = ElementType("int64", 6, np.dtype(np.int64), False)
SUPPORTED_TYPES = (FLOAT16, BFLOAT16, FLOAT32, FLOAT64, INT32, INT64)
_BY_DTYPE = {t.payload: t for t in SUPPORTED_TYPES if t is not BFLOAT16}


def element_type_of(array: npt.NDArray[Any], *, bfloat16_bits: bool = False) -> ElementType:
    """The element type of ``array``; ``uint16`` means bfloat16 only with ``bfloat16_bits``.

    Arrays whose dtype is named ``bfloat16`` (ml_dtypes, as torch/JAX export them) are
    bfloat16 too; pass them through ``as_payload`` to get the ``uint16`` view.
    """
    found = _BY_DTYPE.get(array.dtype)
    if found is not None:
        return found
    if array.dtype.name == "bfloat16" or (bfloat16_bits and array.dtype == np.uint16):
        return BFLOAT16
    names = ", ".join(t.name for t in SUPPORTED_TYPES)
    raise UnsupportedDtypeError(
        f"dtype {array.dtype} has no engine reduction; use one of {names} "
        "(bfloat16 as uint16 bits with bfloat16_bits=True), e.g. array.astype(np.float32)"
    )


def as_payload(array: npt.NDArray[Any], etype: ElementType) -> npt.NDArray[Any]:
    """``array`` viewed with the payload dtype (a no-op except for ml_dtypes bfloat16)."""
    return array if array.dtype == etype.payload else array.view(etype.payload)


class Reducer:
    """Applies one op to one element type, into caller buffers, reusing its own scratch."""

    def __init__(self, op: ReduceOp, etype: ElementType) -> None:
        self.op = op
        self.etype = etype
        self._ufunc = _UFUNCS[op]
        self._wide_a = np.empty(0, dtype=np.float32)
        self._wide_b = np.empty(0, dtype=np.float32)
        self._nan = np.empty(0, dtype=np.bool_)

    def _scratch(
        self, n: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
        if self._wide_a.size < n:
            self._wide_a = np.empty(n, dtype=np.float32)
            self._wide_b = np.empty(n, dtype=np.float32)
            self._nan = np.empty(n, dtype=np.bool_)
        return self._wide_a[:n], self._wide_b[:n], self._nan[:n]

    def reduce_into(self, out: npt.NDArray[Any], a: npt.NDArray[Any], b: npt.NDArray[Any]) -> None:
        """``out = op(a, b)`` elementwise; ``out`` may be ``a`` or ``b``."""
        if self.etype is not BFLOAT16:
            self._ufunc(a, b, out=out)
            return
        wide_a, wide_b, nan = self._scratch(out.size)
        bfloat16.widen_into(a, wide_a)
        bfloat16.widen_into(b, wide_b)
        self._ufunc(wide_a, wide_b, out=wide_a)
        bfloat16.narrow_into(wide_a, out, wide_b.view(np.uint32), nan)

    def scale(self, values: npt.NDArray[Any], factor: float) -> None:
        """``values *= factor`` in place, in the element type's arithmetic."""
        if factor == 1.0 or values.size == 0:
            return
        if self.etype is BFLOAT16:
            self._map_bf16(values, lambda wide: np.multiply(wide, factor, out=wide))
        elif self.etype is FLOAT16:  # in float32 (the factor is not rounded to float16)
            np.multiply(values, np.asarray(factor, np.float32), out=values, casting="unsafe")
        elif self.etype.is_float:
            np.multiply(values, factor, out=values, casting="unsafe")
        else:
            np.copyto(values, np.trunc(values * np.float64(factor)), casting="unsafe")

    def average(self, values: npt.NDArray[Any], count: int) -> None:
        """``values /= count`` in place (integers: truncated toward zero, exactly)."""
        if count == 1 or values.size == 0:
            return
        if self.etype is BFLOAT16:
            self._map_bf16(values, lambda wide: np.divide(wide, count, out=wide))
        elif self.etype.is_float:
            np.divide(values, count, out=values, casting="unsafe")
        else:
            inexact_negative = (values < 0) & (values % count != 0)
            np.floor_divide(values, count, out=values)
            values += inexact_negative  # floor -> toward zero

    def _map_bf16(self, values: npt.NDArray[Any], fn: Any, block: int = 1 << 18) -> None:
        flat = values.reshape(-1)
        for start in range(0, flat.size, block):
            part = flat[start : start + block]
            wide, spare, nan = self._scratch(part.size)
            bfloat16.widen_into(part, wide)
            fn(wide)
            bfloat16.narrow_into(wide, part, spare.view(np.uint32), nan)
