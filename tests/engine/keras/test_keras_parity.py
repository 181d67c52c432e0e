"""Horovod parity of ``workbench.engine.keras`` on 2 real MPI ranks (cases in
``parity_cases.py``, each checked against a single-process reference there): process sets
on every collective, ``sparse_as_dense`` and allgathered ``IndexedSlices``,
``backward_passes_per_step`` with and without ``average_aggregated_gradients``,
``PartialDistributedOptimizer``, ``local_variables`` of the broadcast callback, LR
schedules, ``BestModelCheckpoint`` on rank 0, elastic names that raise.
"""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases


@pytest.mark.mpi
def test_keras_horovod_parity(mpirun):
    result = mpirun(
        "from tests.engine.keras.parity_cases import main\nmain()\n",
        n=2,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=240,
    )
    by_rank = passed_cases(result.outputs, result.log)
    detail = [{k: c["detail"] for k, c in cases.items()} for cases in by_rank]
    for same in ("sparse/weights/True", "sparse/weights/False", "aggregation/True/weights"):
        assert detail[0][same] == detail[1][same], same
    for passes in (1, 2):
        assert detail[0][f"partial/{passes}/shared"] == detail[1][f"partial/{passes}/shared"]
        assert detail[0][f"partial/{passes}/local"] != detail[1][f"partial/{passes}/local"]
    assert detail[0]["broadcast/local"] != detail[1]["broadcast/local"]
