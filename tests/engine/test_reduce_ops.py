"""Reduction kernels per op and element type, bfloat16 conversion, scaling rules."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.bfloat16 import from_bfloat16, to_bfloat16
from workbench.engine.errors import UnsupportedDtypeError, UnsupportedOpError
from workbench.engine.reduce_ops import (
    BFLOAT16,
    FLOAT16,
    INT32,
    SUPPORTED_TYPES,
    ReduceOp,
    Reducer,
    element_type_of,
)


def special_floats() -> np.ndarray:
    rng = np.random.default_rng(0)
    values = rng.standard_normal(10_000).astype(np.float32) * 1e3
    ties = np.array([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8)], dtype=np.float32)  # exact halves
    extremes = np.array([0.0, -0.0, np.inf, -np.inf, 3.4e38, 1e-40, -1e-42], dtype=np.float32)
    return np.concatenate([values, ties, extremes])


def test_bfloat16_rounds_to_nearest_even_like_torch():
    import torch

    values = special_floats()
    ours = to_bfloat16(values)
    theirs = torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(from_bfloat16(ours), torch.from_numpy(values).bfloat16().float())


def test_bfloat16_ties_and_nan():
    bits = to_bfloat16(np.array([1 + 2**-8, 1 + 3 * 2**-8, np.nan], dtype=np.float32))
    assert from_bfloat16(bits)[:2].tolist() == [1.0, 1 + 2 * 2**-7]  # both ties go to even
    assert np.isnan(from_bfloat16(bits)[2])
    tiny_nan = np.array([0x7F800001], dtype=np.uint32).view(np.float32)
    assert np.isnan(from_bfloat16(to_bfloat16(tiny_nan))[0])  # no rounding into infinity


@pytest.mark.parametrize("etype", SUPPORTED_TYPES, ids=lambda t: t.name)
@pytest.mark.parametrize("op", list(ReduceOp), ids=lambda o: o.value)
def test_reduce_into_matches_numpy(etype, op):
    rng = np.random.default_rng(1)
    a64, b64 = rng.integers(1, 6, size=(2, 999)).astype(np.float64)
    if etype is BFLOAT16:
        a, b = to_bfloat16(a64), to_bfloat16(b64)
    else:
        a, b = a64.astype(etype.payload), b64.astype(etype.payload)
    out = np.empty_like(a)
    Reducer(op, etype).reduce_into(out, a, b)
    ufunc = {ReduceOp.MIN: np.minimum, ReduceOp.MAX: np.maximum, ReduceOp.PRODUCT: np.multiply}
    want = ufunc.get(op, np.add)(a64, b64)
    got = from_bfloat16(out) if etype is BFLOAT16 else out
    np.testing.assert_array_equal(got.astype(np.float64), want)


def test_average_and_scale_rules():
    ints = np.array([7, -7, 8], dtype=np.int32)
    Reducer(ReduceOp.AVERAGE, INT32).average(ints, 2)
    assert ints.tolist() == [3, -3, 4]  # truncated toward zero, as Horovod does
    Reducer(ReduceOp.SUM, INT32).scale(ints, 0.5)
    assert ints.tolist() == [1, -1, 2]  # scaled in float64, truncated toward zero
    bf = to_bfloat16(np.array([3.0, 5.0], dtype=np.float32))
    Reducer(ReduceOp.AVERAGE, BFLOAT16).average(bf, 2)
    assert from_bfloat16(bf).tolist() == [1.5, 2.5]
    halves = np.array([1.0, 3.0], dtype=np.float16)
    Reducer(ReduceOp.SUM, FLOAT16).scale(halves, 0.25)
    assert halves.dtype == np.float16 and halves.tolist() == [0.25, 0.75]


def test_types_and_ops_are_checked_with_actionable_messages():
    with pytest.raises(UnsupportedDtypeError, match=r"complex64.*float32"):
        element_type_of(np.zeros(2, dtype=np.complex64))
    with pytest.raises(UnsupportedDtypeError, match="bfloat16_bits=True"):
        element_type_of(np.zeros(2, dtype=np.uint16))
    assert element_type_of(np.zeros(2, dtype=np.uint16), bfloat16_bits=True) is BFLOAT16
    assert ReduceOp.parse("SUM") is ReduceOp.SUM
    with pytest.raises(UnsupportedOpError, match="average"):
        ReduceOp.parse("mean")
