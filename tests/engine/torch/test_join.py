"""``hvd.join()`` on real MPI ranks: uneven training with DistributedOptimizer, collectives
while a rank has joined, the errors for what a joined rank cannot stand in for."""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases

CASES = "from tests.engine.torch import join_cases\njoin_cases.main()\n"


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_join(mpirun, ranks):
    result = mpirun(CASES, n=ranks, timeout=120)
    by_rank = passed_cases(result.outputs, result.log)
    assert all(len(cases) >= 6 for cases in by_rank), by_rank
