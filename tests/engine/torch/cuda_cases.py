"""DistributedOptimizer on CUDA tensors, inside real MPI ranks (every rank on GPU 0 is fine).

The reference is the single-process CPU run over the union batch (``training_cases``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

import workbench.engine.torch as hvd
from tests.engine.case_report import run_case
from tests.engine.torch.training_cases import make_model, reference_grads, shard, union_batch


def cuda_grads_match(compression: Any, tol: float) -> tuple[bool, Any]:
    n = hvd.size()
    device = torch.device("cuda", hvd.local_rank() % torch.cuda.device_count())
    model = make_model()
    batch = union_batch(n)
    want = reference_grads(model, batch)
    model = model.to(device)
    opt = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1),
        named_parameters=model.named_parameters(),
        compression=compression,
    )
    images, labels = shard(batch)
    for _ in range(2):  # the second step reuses the pooled pinned buffers
        opt.zero_grad()
        nn.functional.cross_entropy(model(images.to(device)), labels.to(device)).backward()
        opt.synchronize()
    got = [p.grad for p in model.parameters()]
    on_device = all(g is not None and g.device == device for g in got)
    errors = [float((g.cpu() - w).abs().max()) for g, w in zip(got, want, strict=True)]
    return on_device and max(errors) < tol, errors


def main() -> None:
    hvd.init()
    run_case("cuda/optimizer_fp32", lambda: cuda_grads_match(hvd.Compression.none, 1e-5))
    run_case("cuda/optimizer_fp16", lambda: cuda_grads_match(hvd.Compression.fp16, 5e-3))
    weights = torch.arange(6, dtype=torch.float32, device="cuda") * (hvd.rank() + 1)
    hvd.broadcast_(weights, root_rank=0)
    run_case("cuda/broadcast", lambda: (torch.equal(weights.cpu(), torch.arange(6.0)), ""))
    summed = hvd.allreduce(torch.ones(5, device="cuda"), op=hvd.Sum)
    run_case("cuda/allreduce", lambda: (summed.is_cuda and float(summed[0]) == hvd.size(), ""))
