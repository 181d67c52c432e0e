"""DistributedOptimizer and SyncBatchNorm cases run inside real MPI ranks.

Every rank builds the same union batch from a seed and trains on its shard; the reference
is a single-process run over the whole union batch, computed on every rank.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

import workbench.engine.torch as hvd
from tests.engine.case_report import raises, run_case

PER_RANK = 6


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)
    )


def union_batch(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand((n * PER_RANK, 1, 8, 8), generator=gen)
    labels = torch.randint(0, 10, (n * PER_RANK,), generator=gen)
    return images, labels


def shard(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    me = hvd.rank()
    return batch[0][me * PER_RANK : (me + 1) * PER_RANK], batch[1][
        me * PER_RANK : (me + 1) * PER_RANK
    ]


def reference_grads(
    model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> list[torch.Tensor]:
    ref = copy.deepcopy(model)
    nn.functional.cross_entropy(ref(batch[0]), batch[1]).backward()
    return [p.grad.clone() for p in ref.parameters()]  # type: ignore[union-attr]


def grads_match(options: dict[str, Any], tol: float = 1e-5, scale: float = 1.0) -> tuple[bool, Any]:
    n = hvd.size()
    model = make_model()
    batch = union_batch(n)
    want = reference_grads(model, batch)
    opt = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1),
        named_parameters=model.named_parameters(),
        **options,
    )
    passes = options.get("backward_passes_per_step", 1)
    images, labels = shard(batch)
    for part in range(passes):
        rows = slice(part * PER_RANK // passes, (part + 1) * PER_RANK // passes)
        loss = nn.functional.cross_entropy(model(images[rows]), labels[rows]) / passes
        loss.backward()
    opt.synchronize()
    got = [p.grad for p in model.parameters()]
    errors = [float((g - w * scale).abs().max()) for g, w in zip(got, want, strict=True)]
    return max(errors) < tol, errors


def training_matches_reference(overlap: bool) -> tuple[bool, Any]:
    n = hvd.size()
    model, ref = make_model(), make_model()
    opt = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9),
        named_parameters=model.named_parameters(),
        overlap=overlap,
    )
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.2, momentum=0.9)
    for step in range(4):
        batch = union_batch(n, seed=step)
        images, labels = shard(batch)
        opt.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        opt.step()
        ref_opt.zero_grad()
        nn.functional.cross_entropy(ref(batch[0]), batch[1]).backward()
        ref_opt.step()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    ref_flat = torch.cat([p.detach().reshape(-1) for p in ref.parameters()])
    same = all(torch.equal(f, flat) for f in hvd.allgather_object(flat))
    return same and float((flat - ref_flat).abs().max()) < 1e-4, float(
        (flat - ref_flat).abs().max()
    )


def zero_grad_in_flight() -> tuple[bool, Any]:
    model = make_model()
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1))
    images, labels = shard(union_batch(hvd.size()))
    nn.functional.cross_entropy(model(images), labels).backward()
    ok, detail = raises(hvd.GradientStateError, opt.zero_grad)
    opt.step()
    opt.zero_grad()
    return ok, detail


def bad_named_parameters() -> tuple[bool, Any]:
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    partial = list(model.named_parameters())[:1]
    ok1, d1 = raises(ValueError, lambda: hvd.DistributedOptimizer(opt, named_parameters=partial))
    dupes = [("w", p) for p in model.parameters()]
    ok2, d2 = raises(ValueError, lambda: hvd.DistributedOptimizer(opt, named_parameters=dupes))
    return ok1 and ok2, (d1, d2)


def sync_batch_norm() -> tuple[bool, Any]:
    n, me = hvd.size(), hvd.rank()
    gen = torch.Generator().manual_seed(5)
    union = torch.randn((n * 4, 3, 5, 5), generator=gen, dtype=torch.float64) * 2 + 1
    weights = torch.randn((n * 4, 3, 5, 5), generator=gen, dtype=torch.float64)
    sbn, bn = hvd.SyncBatchNorm(3).double(), nn.BatchNorm2d(3).double()
    with torch.no_grad():
        for m in (sbn, bn):
            m.weight.copy_(torch.tensor([1.0, 2.0, 0.5]))
            m.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    rows = slice(me * 4, (me + 1) * 4)
    x = union[rows].clone().requires_grad_(True)
    y = sbn(x)
    (y * weights[rows]).sum().backward()
    ux = union.clone().requires_grad_(True)
    uy = bn(ux)
    (uy * weights).sum().backward()
    w_grad = hvd.allreduce(sbn.weight.grad, op=hvd.Sum)
    checks = {
        "y": float((y - uy[rows]).abs().max()),
        "grad_x": float((x.grad - ux.grad[rows]).abs().max()),
        "grad_w": float((w_grad - bn.weight.grad).abs().max()),
        "running_mean": float((sbn.running_mean - bn.running_mean).abs().max()),
        "running_var": float((sbn.running_var - bn.running_var).abs().max()),
    }
    sbn.eval()
    checks["eval"] = float((sbn(union[rows]) - bn.eval()(union[rows])).abs().max())
    return max(checks.values()) < 1e-9, checks


def main() -> None:
    n = hvd.size()
    run_case("optimizer/grads", lambda: grads_match({}))
    run_case("optimizer/grads_no_overlap", lambda: grads_match({"overlap": False}))
    run_case(
        "optimizer/grads_fp16", lambda: grads_match({"compression": hvd.Compression.fp16}, tol=5e-3)
    )
    run_case("optimizer/grads_sum", lambda: grads_match({"op": hvd.Sum}, scale=float(n)))
    run_case("optimizer/backward_passes", lambda: grads_match({"backward_passes_per_step": 2}))
    run_case("optimizer/train_overlap", lambda: training_matches_reference(True))
    run_case("optimizer/train_no_overlap", lambda: training_matches_reference(False))
    run_case("optimizer/zero_grad_in_flight", zero_grad_in_flight)
    run_case("optimizer/bad_named_parameters", bad_named_parameters)
    run_case("sync_batch_norm", sync_batch_norm)
