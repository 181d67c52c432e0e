"""Every collective on real MPI ranks (2, 3 and 4), one mpiexec launch per rank count.

The ranks run ``tests/engine/mpi_cases.py``: every op x dtype x length (0, 1, N-1, primes),
non-contiguous inputs, every broadcast root, uneven allgather/alltoall, mismatched calls,
async handles, the shared-memory, hierarchical and 2x2 layouts, the small-message path, small
allreduces carried in their call check, and the same without it (ring only) and unchecked.
Small ring chunks make even these small arrays travel in many pipelined chunks.
"""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases

SNIPPET = """
from tests.engine.mpi_cases import main
main()
"""
ENV = {
    "WORKBENCH_RING_CHUNK_BYTES": "8192",
    "WORKBENCH_SHM_CHUNK_BYTES": "4096",
    "WORKBENCH_SMALL_ALLREDUCE_BYTES": "0",  # the ring for every size; mpi_cases tests MPI's too
    "OMPI_MCA_osc": "^ucx",  # the UCX one-sided component only prints noise on one node
}


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("ranks", [2, 3, 4])
def test_every_collective_matches_numpy(mpirun, ranks):
    result = mpirun(SNIPPET, n=ranks, env=ENV, timeout=300)
    by_rank = passed_cases(result.outputs, result.log)
    # every rank ran the same cases, and there are plenty of them
    assert all(set(c) == set(by_rank[0]) for c in by_rank)
    assert sum(name.count("/allreduce/") for name in by_rank[0]) >= 6 * 5 * 8
    names = {c["detail"] for name, c in by_rank[0].items() if name.endswith("/name")}
    expected = {"shm"} | ({"grid 2x2", "hierarchical"} if ranks == 4 else set())
    assert names == expected
