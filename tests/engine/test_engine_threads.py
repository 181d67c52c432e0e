"""The engine's collectives and async handles on thread ranks (MPI runs in test_mpi_*)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from workbench.engine.engine import Engine
from workbench.engine.errors import CollectiveMismatchError, StallError
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import AllreduceOptions
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks

from .async_queue import Queue

AVERAGE = AllreduceOptions(ReduceOp.AVERAGE)


def on_ranks(size, body, **engine_options):
    return run_ranks(ThreadCommunicator.create(size), lambda c: body(Engine(c, **engine_options)))


def test_gather_broadcast_scatter_alltoall():
    def body(e):
        gathered = e.allgather(np.full((e.rank, 2), e.rank))
        pieces = e.allgatherv(np.arange(e.rank))
        broadcast = e.broadcast(np.arange(5) * (e.rank + 1), root=2)
        scattered = e.reducescatter(np.arange(8).reshape(4, 2) + e.rank, AVERAGE)
        received, splits = e.alltoall(np.arange(3) + 10 * e.rank)
        e.barrier()
        return gathered, pieces, broadcast, scattered, received, splits

    for rank, out in enumerate(on_ranks(3, body)):
        gathered, pieces, broadcast, scattered, received, splits = out
        np.testing.assert_array_equal(gathered, [[1, 1], [2, 2], [2, 2]])
        assert [len(p) for p in pieces] == [0, 1, 2]
        np.testing.assert_array_equal(broadcast, np.arange(5) * 3)
        rows = {0: [0, 1], 1: [2], 2: [3]}[rank]
        np.testing.assert_array_equal(scattered, np.arange(8).reshape(4, 2)[rows] + 1)
        np.testing.assert_array_equal(received, [10 * r + rank for r in range(3)])
        assert splits == [1, 1, 1]


def test_bytes_sent_is_reported_per_collective():
    def body(e):
        e.allreduce(np.ones(3000, dtype=np.float32))
        return e.last_bytes_sent

    assert on_ranks(3, body) == [16000] * 3  # 2 * (3-1)/3 * 12000 bytes


def test_async_allreduces_are_fused_and_resolve_in_order():
    def body(e):
        q = Queue(e, cycle_time=0.05)
        handles = [q.allreduce(np.full(10, i, np.float32), name=f"g{i}") for i in range(40)]
        results = [h.wait(30) for h in handles]
        q.executor.drain()
        later = e.allreduce(np.ones(1))  # a sync call after async ones, same order everywhere
        q.stop()
        return results, [h.bytes_sent for h in handles], later

    for results, sent, later in on_ranks(2, body):
        assert all((r == 2 * i).all() for i, r in enumerate(results))
        assert max(sent) >= 40 * 10 * 4 / 2  # at least one handle rode in a fused batch
        assert later[0] == 2


def test_async_other_collectives_and_poll():
    def body(e):
        handle = Queue(e).broadcast(np.ones(3) * e.rank, 1)
        deadline = time.monotonic() + 30
        while not handle.poll() and time.monotonic() < deadline:
            time.sleep(0.001)
        return handle.wait(0), handle.name

    assert on_ranks(2, body)[0][1] == "broadcast.1"
    assert all((r[0] == 1).all() for r in on_ranks(2, body))


def test_async_errors_reach_every_rank():
    def body(e):
        q = Queue(e)
        handles = [q.allreduce(np.ones(4), name=n) for n in (["a", "b"] if e.rank else ["b", "a"])]
        errors = 0
        for handle in handles:
            with pytest.raises(CollectiveMismatchError):
                handle.wait(30)
            errors += 1
        q.executor.drain()
        return errors, e.allreduce(np.ones(1))[0]

    assert on_ranks(2, body) == [(2, 2.0), (2, 2.0)]


def test_handle_wait_times_out_while_a_peer_is_late():
    def body(e):
        if e.rank == 1:
            time.sleep(0.3)
        handle = Queue(e).allreduce(np.ones(1))
        if e.rank == 0:
            with pytest.raises(StallError, match="not done after"):
                handle.wait(0.05)
        return handle.wait(30)[0]

    assert on_ranks(2, body) == [2.0, 2.0]


def test_async_on_one_rank_and_sync_on_another_is_a_mismatch_not_a_hang():
    def body(e):
        try:
            if e.rank == 0:
                Queue(e).allreduce(np.ones(1)).wait(30)
            else:
                e.allreduce(np.ones(1))
        except CollectiveMismatchError as exc:
            return "negotiate" in str(exc)
        return False

    assert on_ranks(2, body) == [True, True]


def test_shared_arrays_and_fused_calls_reduce_in_place_under_shm():
    def body(e):
        array = e.shared_array((4, 5), np.float32)
        array[...] = e.rank + 1
        out = e.allreduce(array, AVERAGE, out=array)
        fused = e.grouped_allreduce([np.ones(3) * e.rank, np.ones((2, 2))])
        return out is array, array.copy(), fused, e.algorithm.bytes_sent()

    for same, array, fused, published in on_ranks(3, body, topology="shm"):
        assert same and (array == 2.0).all()
        assert (fused[0] == 3).all() and (fused[1] == 3).all()
        assert published == 0  # nothing was copied into shared memory
