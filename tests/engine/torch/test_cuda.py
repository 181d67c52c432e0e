"""CUDA tensors through the engine: pinned staging and the DistributedOptimizer on a GPU.

Runs on a machine with a CUDA device (the project's device machine); skipped elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.engine.case_report import passed_cases

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int64])
def test_pinned_staging_round_trip_and_buffer_reuse(dtype: torch.dtype):
    from workbench.engine.torch.staging import stage_out, to_device

    tensors = [
        (torch.randn(37, 5, device="cuda") * 100).to(dtype),
        (torch.randn(3, 4, device="cuda") * 100).to(dtype).t(),  # not contiguous
    ]
    staged = stage_out(tensors)
    staged.wait()
    for tensor, array in zip(tensors, staged.arrays, strict=True):
        host = tensor.cpu()
        if dtype is torch.bfloat16:
            host = host.view(torch.int16)
            array = array.view(np.int16)
        assert np.array_equal(array, host.numpy())
        back = to_device(array if dtype is not torch.bfloat16 else array.view(np.uint16), tensor)
        torch.cuda.synchronize()
        assert back.device == tensor.device and torch.equal(back, tensor)
    pointers = {b.data_ptr() for b in staged.buffers}
    staged.release()
    again = stage_out(tensors)
    assert {b.data_ptr() for b in again.buffers} == pointers  # pooled, not allocated again
    again.wait()
    again.release()


@pytest.mark.mpi
def test_distributed_optimizer_on_cuda_matches_the_union_batch(mpirun):
    code = (
        "from tests.engine.torch import cuda_cases\ncuda_cases.main()\n"
        'print(\'{"case": "done", "ok": true, "detail": ""}\', flush=True)\n'
    )
    result = mpirun(code, n=2, timeout=300)
    by_rank = passed_cases(result.outputs, result.log)
    assert set(by_rank[0]) >= {"cuda/optimizer_fp32", "cuda/optimizer_fp16", "cuda/broadcast"}
