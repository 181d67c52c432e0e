"""Topology planning, env overrides, grid communicators, and layouts agree with flat."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.engine.comm import VIRTUAL_NODES_ENV
from workbench.engine.engine import Engine
from workbench.engine.errors import TopologyError
from workbench.engine.thread_comm import ThreadCommunicator, run_ranks
from workbench.engine.topology import TOPOLOGY_ENV, grid_comms, parse_grid, plan_topology


def plans(size, ranks_per_node=None, requested=None):
    comms = ThreadCommunicator.create(size, ranks_per_node=ranks_per_node)
    return run_ranks(comms, lambda c: plan_topology(c, requested))[0]


def test_auto_picks_hierarchical_only_across_uniform_nodes():
    assert plans(4, 2).kind == "hierarchical" and plans(4, 2).dims == (2, 2)
    assert plans(4).kind == "flat"  # one node
    assert plans(4, 1).kind == "flat"  # one rank per node
    assert plans(3, 2).kind == "flat"  # nodes of 2 and 1
    with pytest.raises(TopologyError, match="same number of ranks on every node"):
        plans(3, 2, "hierarchical")


def test_env_overrides(monkeypatch):
    monkeypatch.setenv(TOPOLOGY_ENV, "flat")
    assert plans(4, 2).kind == "flat"
    monkeypatch.setenv(TOPOLOGY_ENV, "2x2")
    assert plans(4).dims == (2, 2)
    monkeypatch.setenv(TOPOLOGY_ENV, "shm")
    assert plans(4).kind == "shm"
    with pytest.raises(TopologyError, match="one node"):
        plans(4, 2)
    monkeypatch.setenv(TOPOLOGY_ENV, "auto")
    monkeypatch.setenv(VIRTUAL_NODES_ENV, "2")
    assert plans(4).kind == "hierarchical"


def test_grid_parsing_errors_name_the_variable():
    assert parse_grid("2x3", 6) == (2, 3)
    with pytest.raises(TopologyError, match="product must equal the 4 ranks"):
        parse_grid("3x2", 4)
    with pytest.raises(TopologyError, match="WORKBENCH_TOPOLOGY"):
        parse_grid("ring", 4)


def test_grid_communicators_are_rows_then_columns():
    def body(comm):
        return [(c.size, c.rank) for c in grid_comms(comm, (2, 3))]

    results = run_ranks(ThreadCommunicator.create(6), body)
    assert results[4] == [(3, 1), (2, 1)]  # rank 4 = row 1, column 1
    assert results[0] == [(3, 0), (2, 0)]


@pytest.mark.parametrize(
    ("size", "per_node", "topology", "expected"),
    [
        (4, 2, "hierarchical", "hierarchical"),
        (8, 4, "hierarchical", "hierarchical"),
        (8, None, "2x2x2", "grid 2x2x2"),
        (6, None, "3x2", "grid 3x2"),
        (4, None, "shm", "shm"),
        (3, None, "shm", "shm"),
    ],
)
def test_every_layout_gives_the_flat_answer(size, per_node, topology, expected):
    lengths = [0, 1, size - 1, 11, 1009]

    def body(comm):
        engine = Engine(comm, topology=topology)
        data = [np.arange(n, dtype=np.int64) * (comm.rank + 1) - comm.rank for n in lengths]
        return engine.algorithm.name, [engine.allreduce(d) for d in data]

    results = run_ranks(ThreadCommunicator.create(size, ranks_per_node=per_node), body)
    for name, outs in results:
        assert name == expected
        for n, out in zip(lengths, outs, strict=True):
            want = sum(np.arange(n, dtype=np.int64) * (r + 1) - r for r in range(size))
            np.testing.assert_array_equal(out, want)
