"""Horovod API details of ``workbench.engine.torch`` on real MPI ranks: gradients through
every blocking collective, scale factors, grouped and sparse collectives, the errors
Horovod code catches (``RuntimeError`` / ``ValueError``), the optimizer's options."""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases

CASES = """
from tests.engine.torch import autograd_cases, horovod_api_cases
autograd_cases.main()
horovod_api_cases.main()
print('{"case": "done", "ok": true, "detail": ""}', flush=True)
"""


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_horovod_api(mpirun, ranks):
    result = mpirun(CASES, n=ranks, timeout=240)
    by_rank = passed_cases(result.outputs, result.log)
    assert all(set(c) == set(by_rank[0]) for c in by_rank)
    assert len(by_rank[0]) > 30
