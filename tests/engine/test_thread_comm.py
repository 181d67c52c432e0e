"""The in-process communicator behaves like MPI where the ring relies on it."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.comm import VIRTUAL_NODES_ENV
from workbench.engine.errors import EngineError, StallError, TopologyError
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks


def test_messages_match_in_posting_order_before_and_after_the_send():
    def body(comm):
        if comm.rank == 0:
            for value in (1, 2, 3):
                comm.isend(np.array([value]), 1, tag=5).Wait()
            return None
        early = np.zeros(1, dtype=np.int64)
        request = comm.irecv(early, 0, tag=5)  # posted first, gets the first message
        later = [np.zeros(1, dtype=np.int64) for _ in range(2)]
        requests = [request] + [comm.irecv(buf, 0, tag=5) for buf in later]
        comm.waitall(requests)
        return [int(early[0]), int(later[0][0]), int(later[1][0])]

    assert run_ranks(ThreadCommunicator.create(2), body)[1] == [1, 2, 3]


def test_size_mismatch_and_silence_are_errors_not_hangs():
    comms = ThreadCommunicator.create(2, timeout=0.2)
    with pytest.raises(StallError, match="not done after"):
        comms[1].irecv(np.zeros(3), 0, tag=1).Wait()
    comms[1].irecv(np.zeros(3), 0, tag=2)
    with pytest.raises(EngineError, match="message size mismatch"):
        comms[0].isend(np.zeros(4), 1, tag=2)


def test_split_and_small_collectives():
    def body(comm):
        sub = comm.split(comm.rank % 2, -comm.rank)  # key reverses the order
        table = sub.allgather_int64(np.array([comm.rank, 10 * comm.rank]))
        names = sub.allgather_object(f"r{comm.rank}")
        sub.barrier()
        return sub.rank, sub.size, table[:, 0].tolist(), names

    results = run_ranks(ThreadCommunicator.create(5), body)
    assert results[0] == (2, 3, [4, 2, 0], ["r4", "r2", "r0"])
    assert results[3] == (0, 2, [3, 1], ["r3", "r1"])


def test_node_layout_from_node_keys_and_virtual_nodes(monkeypatch):
    def layout(comm):
        return (comm.local_rank, comm.local_size, comm.cross_rank, comm.cross_size)

    assert run_ranks(ThreadCommunicator.create(4, ranks_per_node=2), layout) == [
        (0, 2, 0, 2),
        (1, 2, 0, 2),
        (0, 2, 1, 2),
        (1, 2, 1, 2),
    ]
    monkeypatch.setenv(VIRTUAL_NODES_ENV, "4")
    assert run_ranks(ThreadCommunicator.create(4), layout)[3] == (0, 1, 3, 4)
    monkeypatch.setenv(VIRTUAL_NODES_ENV, "3")
    with pytest.raises(TopologyError, match="divide the 4 ranks"):
        run_ranks(ThreadCommunicator.create(4), layout)


def test_local_and_cross_communicators():
    def body(comm):
        local, cross = comm.local_comm(), comm.cross_comm()
        return local.size, local.rank, cross.size, cross.rank

    results = run_ranks(ThreadCommunicator.create(6, ranks_per_node=3), body)
    assert results[4] == (3, 1, 2, 1)
