"""Process sets on real MPI ranks: registry, every collective inside a set, overlapping
async work in two sets that share a rank, outsiders never blocked, errors reaching every
member, removal and ``init(process_sets=...)`` (cases: ``process_set_cases.py``)."""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases

SNIPPET = """
from tests.engine.process_set_cases import main
main()
"""
CASES = {
    "registry",
    "allreduce",
    "other_collectives",
    "overlapping_async",
    "outsider_refused",
    "mismatch_in_set",
    "duplicate_name",
    "world_after_sets",
    "bad_sets",
    "remove",
    "init_process_sets",
}


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [3, 4])
def test_process_sets(mpirun, ranks):
    result = mpirun(SNIPPET, n=ranks, timeout=240)
    by_rank = passed_cases(result.outputs, result.log)
    for cases in by_rank:
        assert set(cases) == CASES | {"done"}
