"""The in-place shared-memory allreduce's column pipeline, on threads sharing numpy blocks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.bfloat16 import from_bfloat16, to_bfloat16
from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import BFLOAT16, FLOAT64, ReduceOp, Reducer
from workbench.engine.shm import ShmAllreduce
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks


@pytest.mark.parametrize("size", [2, 3, 4])
@pytest.mark.parametrize("chunk_bytes", [64, 256, 1 << 16])
def test_repeated_in_place_calls_match_numpy(size, chunk_bytes):
    lengths = [0, 1, size - 1, size + 1, 777, 5000, 3]

    def body(comm):
        shm = ShmAllreduce(comm, chunk_bytes=chunk_bytes)
        block = shm.allocate_block(8 * 6000)
        reducer = Reducer(ReduceOp.MAX, FLOAT64)
        outs = []
        for n in lengths:
            view = block.mine[8 : 8 + 8 * n].view(np.float64)
            view[:] = np.sin(np.arange(n) + comm.rank)
            assert shm.locate(view) == ((block, 8) if n else None)
            outs.append(shm.allreduce(block, 8, n, np.dtype(np.float64), reducer).copy())
        assert shm.locate(np.ones(3)) is None
        shm.close()
        return outs

    for outs in run_ranks(ThreadCommunicator.create(size), body):
        for n, out in zip(lengths, outs, strict=True):
            want = np.max([np.sin(np.arange(n) + r) for r in range(size)], axis=0)
            np.testing.assert_array_equal(out, want)


def test_bfloat16_sums_in_float32():
    def body(comm):
        shm = ShmAllreduce(comm, chunk_bytes=64)
        block = shm.allocate_block(200)
        block.mine[:200].view(np.uint16)[:] = to_bfloat16(np.full(100, 1.0 + comm.rank))
        out = shm.allreduce(block, 0, 100, np.dtype(np.uint16), Reducer(ReduceOp.SUM, BFLOAT16))
        return from_bfloat16(out)

    for total in run_ranks(ThreadCommunicator.create(3), body):
        assert (total == 6.0).all()


def test_bad_configuration_is_refused():
    with pytest.raises(EngineError, match="WORKBENCH_SHM_CHUNK_BYTES"):
        ShmAllreduce(ThreadCommunicator.create(1)[0], chunk_bytes=8)
