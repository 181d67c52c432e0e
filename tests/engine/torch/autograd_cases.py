"""Gradients through the blocking collectives, run inside real MPI ranks by
``test_horovod_api.py``: each case backpropagates a known upstream gradient and checks the
adjoint collective's result on this rank."""

from __future__ import annotations

from typing import Any

import torch

import workbench.engine.torch as hvd
from tests.engine.case_report import run_case


def same(got: torch.Tensor | None, want: torch.Tensor) -> tuple[bool, Any]:
    ok = got is not None and got.shape == want.shape and torch.allclose(got, want.to(got.dtype))
    return ok, "" if ok else f"{got} vs {want}"


def leaf(shape: tuple[int, ...], value: float = 1.0) -> torch.Tensor:
    return torch.full(shape, value, dtype=torch.float64, requires_grad=True)


def allreduce_grads(n: int) -> None:
    def body(op: Any, pre: float, post: float, want: float) -> tuple[bool, Any]:
        x = leaf((3, 2))
        hvd.allreduce(x, op=op, prescale_factor=pre, postscale_factor=post).sum().backward()
        return same(x.grad, torch.full((3, 2), want))

    run_case("grad/allreduce_sum", lambda: body(hvd.Sum, 1.0, 1.0, n))
    run_case("grad/allreduce_average", lambda: body(hvd.Average, 1.0, 1.0, 1.0))
    run_case("grad/allreduce_scaled", lambda: body(hvd.Sum, 0.5, 3.0, 1.5 * n))

    def grouped() -> tuple[bool, Any]:
        xs = [leaf((2,)), leaf((4, 1))]
        outs = hvd.grouped_allreduce(xs, op=hvd.Sum)
        (outs[0].sum() + 2 * outs[1].sum()).backward()
        checks = [
            same(xs[0].grad, torch.full((2,), n)),
            same(xs[1].grad, torch.full((4, 1), 2 * n)),
        ]
        return all(ok for ok, _ in checks), checks

    run_case("grad/grouped_allreduce", grouped)


def gather_grads(n: int) -> None:
    me = hvd.rank()
    rows = [r + 1 for r in range(n)]  # uneven first dimensions
    upstream = torch.cat([torch.full((k, 2), float(r)) for r, k in enumerate(rows)])

    def allgather() -> tuple[bool, Any]:
        x = leaf((rows[me], 2))
        hvd.allgather(x).backward(upstream.double())
        return same(x.grad, torch.full((rows[me], 2), float(me)))  # averaged, this rank's rows

    def grouped() -> tuple[bool, Any]:
        xs = [leaf((rows[me], 2)), leaf((rows[me], 2))]
        a, b = hvd.grouped_allgather(xs)
        (a * upstream).sum().backward(retain_graph=True)
        (3 * b * upstream).sum().backward()
        checks = [
            same(xs[0].grad, torch.full((rows[me], 2), float(me))),
            same(xs[1].grad, torch.full((rows[me], 2), 3.0 * me)),
        ]
        return all(ok for ok, _ in checks), checks

    def broadcast() -> tuple[bool, Any]:
        x = leaf((2, 2), float(me))
        hvd.broadcast(x, root_rank=n - 1).sum().backward()
        return same(x.grad, torch.full((2, 2), 1.0 if me == n - 1 else 0.0))

    def alltoall() -> tuple[bool, Any]:
        splits = [(me + r) % 2 + 1 for r in range(n)]
        x = torch.arange(sum(splits) * 2, dtype=torch.float64).reshape(-1, 2) + 100 * me
        x.requires_grad_()
        out, received = hvd.alltoall(x, splits=torch.tensor(splits, dtype=torch.int32))
        (out**2 / 2).sum().backward()  # d/dout = out: routed back, the gradient is x itself
        ok = received.tolist() == [(r + me) % 2 + 1 for r in range(n)]
        good, detail = same(x.grad, x.detach())
        return ok and good, (received, detail)

    run_case("grad/allgather", allgather)
    run_case("grad/grouped_allgather", grouped)
    run_case("grad/broadcast", broadcast)
    run_case("grad/alltoall", alltoall)


def reducescatter_grads(n: int) -> None:
    def body(op: Any, want: float) -> tuple[bool, Any]:
        x = leaf((2 * n, 3))
        hvd.reducescatter(x, op=op).sum().backward()
        return same(x.grad, torch.full((2 * n, 3), want))

    def grouped() -> tuple[bool, Any]:
        xs = [leaf((n, 2)), leaf((2 * n,))]
        a, b = hvd.grouped_reducescatter(xs, op=hvd.Average)
        (a.sum() + 5 * b.sum()).backward()
        checks = [same(xs[0].grad, torch.ones(n, 2)), same(xs[1].grad, torch.full((2 * n,), 5.0))]
        return all(ok for ok, _ in checks), checks

    # Horovod's definition: Sum's gradient is the allgathered gradient times size()
    run_case("grad/reducescatter_sum", lambda: body(hvd.Sum, float(n)))
    run_case("grad/reducescatter_average", lambda: body(hvd.Average, 1.0))
    run_case("grad/grouped_reducescatter", grouped)


def main() -> None:
    torch.set_num_threads(1)
    hvd.init()
    n = hvd.size()
    allreduce_grads(n)
    gather_grads(n)
    reducescatter_grads(n)
