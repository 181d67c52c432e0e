"""The call check: mismatches raise the same readable error on every rank."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.engine import Engine
from workbench.engine.errors import CollectiveMismatchError
from workbench.engine.negotiation import (
    CHECK_CALLS_ENV,
    CallDescriptor,
    CollectiveKind,
    checks_enabled_by_env,
    stable_hash,
)
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import AllreduceOptions
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks

MIN, MAX = AllreduceOptions(ReduceOp.MIN), AllreduceOptions(ReduceOp.MAX)


def outcomes(size, call):
    """What each rank's ``call(engine)`` returned or raised (as the exception)."""

    def body(comm):
        engine = Engine(comm)
        try:
            first = call(engine)
        except CollectiveMismatchError as exc:
            first = exc
        after = engine.allreduce(np.ones(2))  # the engine stays usable
        return first, after

    return run_ranks(ThreadCommunicator.create(size), body)


def test_shape_mismatch_raises_on_every_rank_with_each_rank_described():
    results = outcomes(3, lambda e: e.allreduce(np.ones(4 + (e.rank == 2)), name="grad.w"))
    for error, after in results:
        assert isinstance(error, CollectiveMismatchError)
        text = str(error)
        assert "rank 0: allreduce 'grad.w' float64[4]" in text
        assert "rank 2: allreduce 'grad.w' float64[5]" in text
        assert (after == 3).all()


def test_a_local_problem_on_one_rank_fails_all_ranks():
    results = outcomes(2, lambda e: e.allreduce(np.ones(2, np.complex128 if e.rank else float)))
    for error, _after in results:
        assert isinstance(error, CollectiveMismatchError)
        assert "failed on some ranks" in str(error) and "complex128" in str(error)


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.broadcast(np.ones(2), root=e.rank),  # roots differ
        lambda e: e.allreduce(
            np.ones(2), AllreduceOptions(ReduceOp.MAX if e.rank else ReduceOp.MIN)
        ),
        lambda e: e.allreduce(np.ones(2)) if e.rank else e.allgather(np.ones(2)),
        lambda e: e.broadcast(np.ones(2), root=5),  # bad root everywhere
        lambda e: e.alltoall(np.ones(4), splits=[1, 1]),  # splits do not sum to 4
    ],
)
def test_other_mismatches(call):
    for error, _after in outcomes(2, call):
        assert isinstance(error, CollectiveMismatchError)


def test_allgather_may_differ_in_the_first_dimension_only():
    results = outcomes(2, lambda e: e.allgather(np.ones((e.rank + 1, 3 + e.rank))))
    assert all(isinstance(error, CollectiveMismatchError) for error, _ in results)
    ok = outcomes(2, lambda e: e.allgather(np.ones((e.rank + 1, 3))))
    assert all(first.shape == (3, 3) for first, _ in ok)


def test_descriptor_hash_is_stable_and_description_readable(monkeypatch):
    assert stable_hash("grad") == stable_hash("grad") != stable_hash("grad2")
    call = CallDescriptor(CollectiveKind.BROADCAST, "w", "float32", root=1, shape=(2, 3))
    assert call.describe() == "broadcast 'w' float32[2, 3] root=1"
    assert call.row().tolist()[4:] == [1, call.row()[5], 2, 0]
    monkeypatch.setenv(CHECK_CALLS_ENV, "0")
    assert not checks_enabled_by_env()
