"""bfloat16 as a ``uint16`` payload: the top half of a float32, rounded to nearest even.

numpy has no bfloat16, so the engine carries bf16 tensors as ``uint16`` bit patterns and does
arithmetic in float32. The ``*_into`` functions write into caller-owned buffers so the ring's
per-chunk reductions allocate nothing.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CANONICAL_NAN = 0x7FC0


def widen_into(src: npt.NDArray[np.uint16], out: npt.NDArray[np.float32]) -> None:
    """``out = float32(src)``: exact, a bf16 is a float32 with the low 16 bits zero."""
    bits = out.view(np.uint32)
    np.copyto(bits, src, casting="unsafe")
    np.left_shift(bits, 16, out=bits)


def narrow_into(
    src: npt.NDArray[np.float32],
    out: npt.NDArray[np.uint16],
    scratch: npt.NDArray[np.uint32],
    nan: npt.NDArray[np.bool_],
) -> None:
    """``out = bfloat16(src)`` rounding to nearest even; NaN stays NaN. ``src`` is kept.

    ``scratch`` and ``nan`` are work buffers of ``src``'s length.
    """
    bits = src.view(np.uint32)
    np.right_shift(bits, 16, out=scratch)
    np.bitwise_and(scratch, 1, out=scratch)
    np.add(scratch, 0x7FFF, out=scratch)
    np.add(scratch, bits, out=scratch)
    np.right_shift(scratch, 16, out=scratch)
    np.copyto(out, scratch, casting="unsafe")
    np.isnan(src, out=nan)
    if nan.any():
        np.copyto(out, CANONICAL_NAN, where=nan, casting="unsafe")


def to_bfloat16(values: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    """bf16 bit patterns of ``values`` (any float array), rounded to nearest even."""
    src = np.ascontiguousarray(values, dtype=np.float32)
    out = np.empty(src.shape, dtype=np.uint16)
    flat = src.reshape(-1)
    scratch = np.empty(flat.size, dtype=np.uint32)
    narrow_into(flat, out.reshape(-1), scratch, np.empty(flat.size, dtype=np.bool_))
    return out


def from_bfloat16(bits: npt.NDArray[np.uint16]) -> npt.NDArray[np.float32]:
    """float32 values of bf16 bit patterns."""
    src = np.ascontiguousarray(bits, dtype=np.uint16)
    out = np.empty(src.shape, dtype=np.float32)
    widen_into(src.reshape(-1), out.reshape(-1))
    return out
