"""Ring reduce-scatter / allgather / allreduce on in-process thread ranks."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import FLOAT32, INT64, ReduceOp, Reducer
from workbench.engine.ring import (
    RingWorkspace,
    even_counts,
    offsets_of,
    ring_allgather,
    ring_allreduce,
    ring_allreduce_bytes,
    ring_reduce_scatter,
)
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks


def rank_data(rank: int, n: int) -> np.ndarray:
    return np.random.default_rng([rank, n]).integers(-1000, 1000, size=n).astype(np.int64)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize(("chunk_bytes", "depth"), [(64, 1), (64, 3), (256, 2), (1 << 20, 3)])
def test_ring_allreduce_sums_exactly(size, chunk_bytes, depth):
    lengths = sorted({0, 1, size - 1, size, 7, 13, 97, 1009})

    def body(comm):
        workspace = RingWorkspace(chunk_bytes=chunk_bytes, depth=depth)
        reducer = Reducer(ReduceOp.SUM, INT64)
        results = []
        for n in lengths:
            out = np.empty(n, dtype=np.int64)
            ring_allreduce(comm, rank_data(comm.rank, n), out, reducer, workspace)
            results.append(out)
        return results

    for results in run_ranks(ThreadCommunicator.create(size), body):
        for n, got in zip(lengths, results, strict=True):
            np.testing.assert_array_equal(got, sum(rank_data(r, n) for r in range(size)))


@pytest.mark.parametrize("op", ["min", "max", "product"])
def test_ring_allreduce_other_ops_in_place(op):
    size, n = 3, 50
    ufunc = {"min": np.minimum, "max": np.maximum, "product": np.multiply}[op]

    def body(comm):
        buf = (rank_data(comm.rank, n) % 7) + 1
        ring_allreduce(comm, buf, buf, Reducer(ReduceOp(op), INT64), RingWorkspace(64, 2))
        return buf

    want = ufunc.reduce([(rank_data(r, n) % 7) + 1 for r in range(size)])
    for got in run_ranks(ThreadCommunicator.create(size), body):
        np.testing.assert_array_equal(got, want)


def test_reduce_scatter_then_allgather_with_uneven_counts():
    size = 4
    counts = [0, 5, 1, 9]

    def body(comm):
        data = rank_data(comm.rank, sum(counts))
        dst = np.zeros_like(data)
        ring_reduce_scatter(
            comm, data, dst, counts, Reducer(ReduceOp.SUM, INT64), RingWorkspace(64)
        )
        offsets = offsets_of(counts)
        mine = dst[offsets[comm.rank] : offsets[comm.rank + 1]].copy()
        ring_allgather(comm, dst, counts, RingWorkspace(64))
        return mine, dst

    total = sum(rank_data(r, sum(counts)) for r in range(size))
    offsets = offsets_of(counts)
    for rank, (mine, full) in enumerate(run_ranks(ThreadCommunicator.create(size), body)):
        np.testing.assert_array_equal(mine, total[offsets[rank] : offsets[rank + 1]])
        np.testing.assert_array_equal(full, total)


@pytest.mark.parametrize("size", [2, 3, 4, 8])
def test_each_rank_sends_2_n_minus_1_over_n_of_the_buffer(size):
    n = 4096 * size  # divisible: the formula holds exactly
    uneven = n + size - 1

    def body(comm):
        sent = []
        for length in (n, uneven):
            before = comm.bytes_sent
            data = np.ones(length, dtype=np.float32)
            ring_allreduce(comm, data, data, Reducer(ReduceOp.SUM, FLOAT32), RingWorkspace(4096))
            sent.append(comm.bytes_sent - before)
        return sent

    for exact, rounded in run_ranks(ThreadCommunicator.create(size), body):
        assert exact == ring_allreduce_bytes(n * 4, size) == 2 * (size - 1) / size * n * 4
        assert abs(rounded - ring_allreduce_bytes(uneven * 4, size)) <= 2 * 4


def test_even_counts_and_offsets():
    assert even_counts(10, 4) == [3, 3, 2, 2]
    assert even_counts(2, 4) == [1, 1, 0, 0]
    assert even_counts(0, 3) == [0, 0, 0]
    assert offsets_of([3, 0, 2]) == [0, 3, 3, 5]


def test_workspace_rejects_tiny_chunks():
    with pytest.raises(EngineError, match="WORKBENCH_RING_CHUNK_BYTES"):
        RingWorkspace(chunk_bytes=8)
