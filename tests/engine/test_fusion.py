"""Fusion planning and packing, and fused results equal separate ones."""

from __future__ import annotations

import numpy as np

from workbench.engine.engine import Engine
from workbench.engine.fusion import FusionBuffer, plan_batches, tensor_group
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import AllreduceOptions
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks


def test_plan_groups_consecutive_equal_keys_up_to_the_threshold():
    keys = ["f32", "f32", "f32", "f64", "f32", None, None, "f32"]
    sizes = [40, 40, 40, 8, 8, 8, 8, 200]
    assert plan_batches(keys, sizes, threshold=100) == [[0, 1], [2], [3], [4], [5], [6], [7]]
    assert plan_batches(["a"] * 4, [10] * 4, threshold=1000) == [[0, 1, 2, 3]]
    assert plan_batches([], [], threshold=10) == []


def test_pack_unpack_round_trip_keeps_shapes_dtypes_and_strided_inputs():
    grid = np.arange(24, dtype=np.float32).reshape(4, 6)
    arrays = [grid[:, ::2], np.float32(7.0), np.zeros((0, 3), np.float32), grid]
    group = tensor_group(arrays)
    buffer = FusionBuffer()
    packed = buffer.pack(group.payloads, group.etype.payload)
    assert packed.size == 12 + 1 + 0 + 24
    pieces = FusionBuffer.unpack(packed, group)
    for original, piece in zip(arrays, pieces, strict=True):
        assert piece.shape == np.shape(original) and piece.dtype == np.float32
        np.testing.assert_array_equal(piece, original)
    assert not np.shares_memory(pieces[3], packed)  # results survive the next pack


def test_group_errors_are_reported_not_raised():
    assert "one dtype" in tensor_group([np.ones(2), np.ones(2, np.float32)]).error
    assert "complex" in tensor_group([np.ones(2, np.complex64)]).error
    assert tensor_group([]).etype is None


def test_grouped_allreduce_equals_separate_allreduces():
    shapes = [(3,), (2, 5), (), (0,), (7, 1)]

    def body(comm):
        engine = Engine(comm)
        arrays = [np.full(s, comm.rank + i, dtype=np.float64) for i, s in enumerate(shapes)]
        fused = engine.grouped_allreduce(arrays, AllreduceOptions(ReduceOp.AVERAGE))
        separate = [engine.allreduce(a, AllreduceOptions(ReduceOp.AVERAGE)) for a in arrays]
        return fused, separate

    for fused, separate in run_ranks(ThreadCommunicator.create(3), body):
        for f, s in zip(fused, separate, strict=True):
            assert f.shape == s.shape
            np.testing.assert_array_equal(f, s)
