"""Process sets through the torch adapter, on 3 real MPI ranks (``process_set_cases.py``)."""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases

SNIPPET = """
from tests.engine.torch.process_set_cases import main
main()
"""
CASES = {
    "allreduce_grad",
    "allgather_grad",
    "broadcast_object",
    "alltoall",
    "optimizer_on_set",
    "outsider_refused",
    "done",
}


@pytest.mark.mpi
def test_torch_process_sets(mpirun):
    result = mpirun(SNIPPET, n=3, timeout=240)
    for cases in passed_cases(result.outputs, result.log):
        assert set(cases) == CASES
