"""``workbench.engine.keras`` on 2 and 3 real MPI ranks: ``model.fit`` with the Horovod callbacks
(identical weights, loss decreases), ``DistributedGradientTape`` against a single-process
run, allreduce inside ``tf.function``. One launch: importing TensorFlow costs ~6 s.
"""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_keras_fit_with_callbacks(mpirun, ranks):
    result = mpirun(
        "from tests.engine.keras.keras_cases import main\nmain()\n",
        n=ranks,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=240,
    )
    by_rank = passed_cases(result.outputs, result.log)
    assert len({cases["keras/weights"]["detail"] for cases in by_rank}) == 1, "weights differ"
    assert len({cases["keras/losses"]["detail"] for cases in by_rank}) == 1
