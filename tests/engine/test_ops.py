"""The module-level API, and what importing the engine drags in (nothing heavy)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import workbench.engine as wb
from workbench.engine.thread_comm import ThreadCommunicator


def test_collectives_need_init():
    wb.shutdown()
    with pytest.raises(wb.EngineNotInitializedError, match=r"init\(\)"):
        wb.allreduce(np.ones(2))


def test_single_rank_round_trip():
    engine = wb.init(ThreadCommunicator.create(1)[0])
    try:
        assert wb.init() is engine  # idempotent
        assert (wb.rank(), wb.size(), wb.local_rank(), wb.local_size()) == (0, 1, 0, 1)
        assert (wb.cross_rank(), wb.cross_size()) == (0, 1)
        np.testing.assert_array_equal(wb.allreduce(np.arange(3), op="max"), np.arange(3))
        handle = wb.allreduce_async(np.ones(2), op=wb.ReduceOp.AVERAGE, name="g")
        assert isinstance(handle, wb.Handle)
        np.testing.assert_array_equal(wb.synchronize(handle), np.ones(2))
        assert wb.poll(handle)
        assert [a.shape for a in wb.grouped_allreduce([np.ones(2), np.ones((1, 3))])] == [
            (2,),
            (1, 3),
        ]
        assert wb.synchronize(wb.grouped_allreduce_async([np.ones(1)]))[0][0] == 1
        assert wb.allgather(np.ones((2, 2))).shape == (2, 2)
        assert wb.synchronize(wb.allgather_async(np.ones(1))).shape == (1,)
        assert [p.shape for p in wb.allgatherv(np.ones(3))] == [(3,)]
        assert wb.broadcast(np.arange(2))[1] == 1
        assert wb.synchronize(wb.broadcast_async(np.arange(2)))[1] == 1
        assert wb.reducescatter(np.ones((4, 2))).shape == (4, 2)
        assert wb.synchronize(wb.reducescatter_async(np.ones(4))).shape == (4,)
        received, splits = wb.alltoall(np.arange(3))
        assert splits == [3] and received.tolist() == [0, 1, 2]
        assert wb.synchronize(wb.alltoall_async(np.arange(3)))[1] == [3]
        wb.barrier()
        assert wb.last_bytes_sent() == 0
    finally:
        wb.shutdown()
    assert not wb.is_initialized()


def test_import_pulls_in_no_mpi_framework_or_service():
    code = (
        "import sys, workbench.engine\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "{'mpi4py', 'torch', 'tensorflow', 'jupyter_server', 'mlflow', 'pydantic'}]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
