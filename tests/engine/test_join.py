"""``join()`` on thread ranks: joined ranks stand in for the others' queued collectives.

The same protocol on real MPI ranks, through the torch adapter: ``torch/test_join.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from workbench.engine.background import allreduce_async, join, submit_call
from workbench.engine.engine import Engine
from workbench.engine.errors import EngineError
from workbench.engine.join import JoinError
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks


def grouped_allreduce_async(e, arrays, op, name):
    call = lambda n: e.grouped_allreduce(arrays, op=op, name=n)  # noqa: E731
    return submit_call(e, "grouped_allreduce", name, call)


def broadcast_async(e, array, root, name):
    return submit_call(e, "broadcast", name, lambda n: e.broadcast(array, root, name=n))


def allgather_async(e, array, name):
    return submit_call(e, "allgather", name, lambda n: e.allgather(array, name=n))


def on_ranks(size, body):
    def run(comm):
        engine = Engine(comm)
        try:
            return body(engine)
        finally:
            if engine.executor is not None:
                engine.executor.stop()

    return run_ranks(ThreadCommunicator.create(size, timeout=30), run)


@pytest.mark.parametrize("size", [2, 3])
def test_uneven_steps_then_join(size):
    def body(e):
        steps = []
        for k in range(e.rank + 1):  # rank r runs r + 1 steps
            value = float(e.rank + 1)
            handles = [
                allreduce_async(e, np.full(4, value, np.float32), op="average", name=f"{k}.a"),
                allreduce_async(e, np.full((2, 3), e.rank + 1), op="sum", name=f"{k}.b"),
                allreduce_async(e, np.full(4, value, np.float32), op="average", name=None),
                grouped_allreduce_async(e, [np.full(3, value)], op="sum", name=f"{k}.g"),
            ]
            steps.append([h.wait(30) for h in handles])
        last = join(e)
        after = allreduce_async(e, np.ones(2)).wait(30)  # auto-named: counters realigned
        again = join(e)  # a second join works too
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
    def body(e):
        if e.rank == 0:
            errors = []
            for _ in range(4):  # the first three joins end with the others' bad calls
                try:
                    return errors, join(e)
                except JoinError as exc:
                    errors.append(str(exc))
            return errors, None
        got = broadcast_async(e, np.arange(4.0) * e.rank, root=2, name="b").wait(30)
        rows = allgather_async(e, np.full((e.rank, 2), e.rank), name="g").wait(30)
        errors = []
        for handle in (
            broadcast_async(e, np.zeros(3), root=0, name="from-joined"),
            submit_call(e, "alltoall", "a2a", lambda n: e.alltoall(np.zeros(3), name=n)),
            allreduce_async(e, np.ones(2), op="min", name="minimum"),
        ):
            with pytest.raises(JoinError) as info:
                handle.wait(30)
            errors.append(str(info.value))
        return errors, got, rows, join(e)

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
    def body(e):
        start = time.monotonic()
        last = join(e)
        return last, time.monotonic() - start

    results = on_ranks(3, body)
    assert len({last for last, _ in results}) == 1
    assert results[0][0] in range(3)
    assert max(took for _, took in results) < 10


def test_sync_call_while_a_rank_is_joined_fails_on_both_ranks():
    def body(e):
        if e.rank == 0:
            with pytest.raises(JoinError, match="queue collectives through the async engine"):
                join(e)
        else:
            with pytest.raises(EngineError, match="allreduce 'not-queued'"):
                e.allreduce(np.ones(2), name="not-queued")  # synchronous: not queued

    on_ranks(2, body)


def test_auto_named_calls_still_agree_after_a_join_ended_in_an_error():
    def body(e):
        if e.rank == 0:
            with pytest.raises(JoinError):
                join(e)  # ends with the others' alltoall
        else:
            allreduce_async(e, np.ones(2)).wait(30)  # auto-named: rank 0 draws no name
            handle = submit_call(e, "alltoall", "a2a", lambda n: e.alltoall(np.zeros(2), name=n))
            with pytest.raises(JoinError):
                handle.wait(30)
        return allreduce_async(e, np.full(2, 1.0)).wait(30)  # auto-named on every rank

    for result in on_ranks(2, body):
        np.testing.assert_array_equal(result, [2.0, 2.0])
