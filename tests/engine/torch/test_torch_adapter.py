"""``workbench.engine.torch`` on real MPI ranks: every public function, the optimizer's
gradients against a single-process run, SyncBatchNorm, and a Horovod-style training script.
"""

from __future__ import annotations

import json

import pytest

from tests.engine.case_report import passed_cases

CASES = """
from tests.engine.torch import torch_cases, training_cases
torch_cases.main()
training_cases.main()
print('{"case": "done", "ok": true, "detail": ""}', flush=True)
"""
ENV = {"WORKBENCH_SMALL_ALLREDUCE_BYTES": "256", "WORKBENCH_RING_CHUNK_BYTES": "4096"}


@pytest.mark.mpi
@pytest.mark.parametrize("ranks", [2, 3])
def test_every_torch_function(mpirun, ranks):
    result = mpirun(CASES, n=ranks, env=ENV, timeout=240)
    by_rank = passed_cases(result.outputs, result.log)
    assert all(set(c) == set(by_rank[0]) for c in by_rank)
    assert len(by_rank[0]) > 60


@pytest.mark.mpi
def test_horovod_style_mnist_script(mpirun):
    result = mpirun("from tests.engine.torch.horovod_mnist import main\nmain()\n", n=2)
    records = [
        [json.loads(x) for x in out.splitlines() if x.startswith("{")] for out in result.outputs
    ]
    losses = [r["loss"] for r in records[0] if "loss" in r]
    assert len(losses) == 3 and losses[-1] < 0.6 * losses[0], losses
    digests = {next(r["weights"] for r in rank if "weights" in r) for rank in records}
    assert len(digests) == 1, "ranks ended with different weights"
