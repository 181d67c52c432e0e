"""The `mpirun` fixture really starts N ranks that talk to each other."""

from __future__ import annotations

import json

import pytest


@pytest.mark.mpi
@pytest.mark.parametrize("n", [2, 3])
def test_ranks_allreduce(mpirun, n):
    result = mpirun(
        """
        import json
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        total = comm.allreduce(comm.Get_rank() + 1)
        print(json.dumps({"rank": comm.Get_rank(), "size": comm.Get_size(), "total": total}))
        """,
        n=n,
    )
    rows = [json.loads(out) for out in result.outputs]
    assert [r["rank"] for r in rows] == list(range(n))
    assert all(r["size"] == n and r["total"] == n * (n + 1) // 2 for r in rows)


@pytest.mark.mpi
def test_failing_rank_is_reported(mpirun):
    result = mpirun(
        """
        from mpi4py import MPI
        if MPI.COMM_WORLD.Get_rank() == 1:
            raise SystemExit(3)
        """,
        n=2,
        check=False,
    )
    assert result.returncode != 0
