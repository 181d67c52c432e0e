"""``workbench.engine.keras.join`` on 2 real MPI ranks: rank 0 joins at once, rank 1 keeps
reducing gradients (eagerly and inside ``tf.function``) and broadcasting, then joins."""

from __future__ import annotations

import pytest

from tests.engine.case_report import passed_cases

CASES = """
import tensorflow as tf
import workbench.engine.keras as hvd
from tests.engine.case_report import run_case

hvd.init()
if hvd.rank() == 1:
    total = hvd.allreduce(tf.fill([3], 4.0), op=hvd.Sum)
    mean = hvd.allreduce(tf.fill([3], 4.0))
    graph = tf.function(lambda x: hvd.allreduce(x, op=hvd.Sum))(tf.ones([2]))
    variable = tf.Variable([5.0, 6.0])
    hvd.broadcast_variables([variable], root_rank=1)
    got = [total.numpy().tolist(), mean.numpy().tolist(), graph.numpy().tolist()]
    want = [[4.0] * 3, [2.0] * 3, [1.0, 1.0]]  # rank 0 adds zeros; Average divides by 2
    run_case("keras/while_joined", lambda: (got == want, got))
last = hvd.join()
after = hvd.allreduce(tf.ones([1]), op=hvd.Sum).numpy().tolist()
run_case("keras/join", lambda: (last == 1 and after == [2.0], (last, after)))
hvd.shutdown()
run_case("done", lambda: (True, ""))
"""


@pytest.mark.mpi
def test_keras_join(mpirun):
    env = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = mpirun(CASES, n=2, env=env, timeout=180)
    by_rank = passed_cases(result.outputs, result.log)
    assert "keras/while_joined" in by_rank[1] and "keras/join" in by_rank[0]
