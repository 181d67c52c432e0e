"""``join()`` on thread ranks: joined ranks stand in for the others' queued collectives.

The same protocol on real MPI ranks, through the torch adapter: ``torch/test_join.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from workbench.engine.engine import Engine
from workbench.engine.errors import EngineError
from workbench.engine.join import JoinError
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks

from .async_queue import Queue


def on_ranks(size, body):
    def run(comm):
        q = Queue(Engine(comm))
        try:
            return body(q)
        finally:
            q.stop()

    return run_ranks(ThreadCommunicator.create(size, timeout=30), run)


@pytest.mark.parametrize("size", [2, 3])
def test_uneven_steps_then_join(size):
    def body(q):
        steps = []
        for k in range(q.engine.rank + 1):  # rank r runs r + 1 steps
            value = float(q.engine.rank + 1)
            handles = [
                q.allreduce(np.full(4, value, np.float32), "average", f"{k}.a"),
                q.allreduce(np.full((2, 3), q.engine.rank + 1), "sum", f"{k}.b"),
                q.allreduce(np.full(4, value, np.float32), "average", None),
                q.grouped_allreduce([np.full(3, value)], "sum", f"{k}.g"),
            ]
            steps.append([h.wait(30) for h in handles])
        last = q.join()
        after = q.allreduce(np.ones(2)).wait(30)  # auto-named: counters realigned
        again = q.join()  # a second join works too
        return steps, last, after, again

    for rank, (steps, last, after, again) in enumerate(on_ranks(size, body)):
        assert last == size - 1 and again in range(size)
        np.testing.assert_array_equal(after, [size, size])
        for k, (average, total, auto, grouped) in enumerate(steps):
            expected = sum(r + 1 for r in range(k, size))  # ranks still training at step k
            np.testing.assert_allclose(average, np.full(4, expected / size))
            np.testing.assert_allclose(auto, np.full(4, expected / size))
            np.testing.assert_array_equal(total, np.full((2, 3), expected))
            np.testing.assert_array_equal(grouped[0], np.full(3, expected))
        assert len(steps) == rank + 1


def test_broadcast_allgather_and_errors_while_rank_zero_joined():
    def body(q):
        if q.engine.rank == 0:
            errors = []
            for _ in range(4):  # the first three joins end with the others' bad calls
                try:
                    return errors, q.join()
                except JoinError as exc:
                    errors.append(str(exc))
            return errors, None
        got = q.broadcast(np.arange(4.0) * q.engine.rank, root=2, name="b").wait(30)
        rows = q.allgather(np.full((q.engine.rank, 2), q.engine.rank), name="g").wait(30)
        errors = []
        for handle in (
            q.broadcast(np.zeros(3), root=0, name="from-joined"),
            q.alltoall(np.zeros(3), "a2a"),
            q.allreduce(np.ones(2), "min", "minimum"),
        ):
            with pytest.raises(JoinError) as info:
                handle.wait(30)
            errors.append(str(info.value))
        return errors, got, rows, q.join()

    results = on_ranks(3, body)
    errors_0, last_0 = results[0]
    for errors, got, rows, last in results[1:]:
        np.testing.assert_array_equal(got, np.arange(4.0) * 2)
        np.testing.assert_array_equal(rows, [[1, 1], [2, 2], [2, 2]])
        assert errors == errors_0
        assert last == last_0
    assert "root 0" in errors_0[0] and "'from-joined'" in errors_0[0]
    assert "alltoall 'a2a' is not supported" in errors_0[1]
    assert "op min" in errors_0[2] and last_0 in (1, 2)


def test_join_with_nothing_queued_returns_promptly():
    def body(q):
        start = time.monotonic()
        last = q.join()
        return last, time.monotonic() - start

    results = on_ranks(3, body)
    assert len({last for last, _ in results}) == 1
    assert results[0][0] in range(3)
    assert max(took for _, took in results) < 10


def test_sync_call_while_a_rank_is_joined_fails_on_both_ranks():
    def body(q):
        if q.engine.rank == 0:
            with pytest.raises(JoinError, match="queue collectives through the async engine"):
                q.join()
        else:
            with pytest.raises(EngineError, match="allreduce 'not-queued'"):
                q.engine.allreduce(np.ones(2), name="not-queued")  # synchronous: not queued

    on_ranks(2, body)


def test_auto_named_calls_still_agree_after_a_join_ended_in_an_error():
    def body(q):
        if q.engine.rank == 0:
            with pytest.raises(JoinError):
                q.join()  # ends with the others' alltoall
        else:
            q.allreduce(np.ones(2)).wait(30)  # auto-named: rank 0 draws no name
            handle = q.alltoall(np.zeros(2), "a2a")
            with pytest.raises(JoinError):
                handle.wait(30)
        return q.allreduce(np.full(2, 1.0)).wait(30)  # auto-named on every rank

    for result in on_ranks(2, body):
        np.testing.assert_array_equal(result, [2.0, 2.0])
