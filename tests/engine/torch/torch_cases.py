"""Collective cases run inside real MPI ranks by ``test_torch_adapter.py``.

Each rank regenerates every rank's input from a seed, computes the reference itself and
prints one JSON line per case (``ok`` plus a detail), like ``tests/engine/mpi_cases.py``.
"""

from __future__ import annotations

from typing import Any

import torch

import workbench.engine.torch as hvd
from tests.engine.case_report import raises, run_case


def rank_tensor(
    rank: int, shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0
) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 1000 + rank)
    if dtype.is_floating_point:
        return (torch.rand(shape, generator=gen, dtype=torch.float64) + 0.5).to(dtype)
    return torch.randint(-9, 10, shape, generator=gen).to(dtype)


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-5) -> tuple[bool, Any]:
    ok = (
        a.shape == b.shape
        and a.dtype == b.dtype
        and torch.allclose(a.double(), b.double(), rtol=tol, atol=tol)
    )
    return ok, "" if ok else f"{a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}: {a} vs {b}"


REFERENCE = {
    "average": lambda s: s.double().mean(0),
    "sum": lambda s: s.sum(0),
    "min": lambda s: s.min(0).values,
    "max": lambda s: s.max(0).values,
    "product": lambda s: s.prod(0),
}
OPS = {
    "average": hvd.Average,
    "sum": hvd.Sum,
    "min": hvd.Min,
    "max": hvd.Max,
    "product": hvd.Product,
}
DTYPES = {
    "float32": (torch.float32, 1e-5),
    "float64": (torch.float64, 1e-12),
    "float16": (torch.float16, 2e-2),
    "bfloat16": (torch.bfloat16, 5e-2),
    "int32": (torch.int32, 0),
    "int64": (torch.int64, 0),
}


def before_init() -> None:
    run_case(
        "before_init/allreduce",
        lambda: raises(hvd.EngineNotInitializedError, lambda: hvd.allreduce(torch.ones(2))),
    )
    run_case("before_init/rank", lambda: raises(hvd.EngineNotInitializedError, hvd.rank))
    run_case("before_init/is_initialized", lambda: (not hvd.is_initialized(), ""))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    run_case(
        "before_init/optimizer",
        lambda: raises(hvd.EngineNotInitializedError, lambda: hvd.DistributedOptimizer(opt)),
    )
    named = [("w", p) for p in opt.param_groups[0]["params"]] * 2
    run_case(  # argument errors first, as in Horovod
        "before_init/optimizer_duplicate_names",
        lambda: raises(ValueError, lambda: hvd.DistributedOptimizer(opt, named_parameters=named)),
    )


def topology(n: int) -> None:
    def body() -> tuple[bool, Any]:
        got = (hvd.size(), hvd.local_size(), hvd.local_rank(), hvd.cross_rank(), hvd.cross_size())
        ranks = hvd.allgather_object(hvd.rank())
        ok = got == (n, n, hvd.rank(), 0, 1) and ranks == list(range(n)) and hvd.is_initialized()
        ok &= hvd.mpi_threads_supported() and hvd.mpi_enabled() and not hvd.nccl_built()
        return ok, (got, ranks)

    run_case("topology", body)


def allreduce_cases(n: int) -> None:
    me = hvd.rank()
    for dname, (dtype, tol) in DTYPES.items():
        for oname, op in OPS.items():
            if dtype in (torch.int32, torch.int64) and oname == "average":
                continue
            inputs = torch.stack([rank_tensor(r, (3, 5), dtype, seed=1) for r in range(n)])

            def body(
                inputs: torch.Tensor = inputs,
                op: Any = op,
                oname: str = oname,
                dtype: torch.dtype = dtype,
                tol: float = tol,
            ) -> tuple[bool, Any]:
                got = hvd.allreduce(inputs[me], op=op, name=f"ar.{dtype}.{oname}")
                want = REFERENCE[oname](inputs.double() if tol else inputs).to(dtype)
                return close(got, want, max(tol, 1e-6) * (10 if oname == "product" else 1))

            run_case(f"allreduce/{dname}/{oname}", body)
    mine = rank_tensor(me, (4, 3), torch.float32)
    union = torch.stack([rank_tensor(r, (4, 3), torch.float32) for r in range(n)])

    def in_place() -> tuple[bool, Any]:
        t = mine.clone()
        out = hvd.allreduce_(t, op=hvd.Sum)
        return out is t and close(t, union.sum(0))[0], t

    def async_ops() -> tuple[bool, Any]:
        handles = [
            hvd.allreduce_async(mine * k, name=f"async.{k}", op=hvd.Sum) for k in range(1, 4)
        ]
        t = mine.clone()
        h2 = hvd.allreduce_async_(t, name="async.inplace")
        results = [hvd.synchronize(h) for h in handles]
        hvd.synchronize(h2)
        ok = all(close(r, union.sum(0) * k)[0] for k, r in zip(range(1, 4), results, strict=True))
        return ok and hvd.poll(h2) and close(t, union.mean(0))[0], results

    def scaled() -> tuple[bool, Any]:
        got = hvd.allreduce(mine, op=hvd.Sum, prescale_factor=2.0, postscale_factor=0.25)
        return close(got, union.sum(0) * 0.5)

    def legacy_average() -> tuple[bool, Any]:
        return close(hvd.allreduce(mine, average=False), union.sum(0))

    def fp16() -> tuple[bool, Any]:
        got = hvd.allreduce(mine, compression=hvd.Compression.fp16)
        return got.dtype is torch.float32 and close(got, union.mean(0), 1e-2)[0], got

    def grouped() -> tuple[bool, Any]:
        second = mine[:2] * 3
        got = hvd.grouped_allreduce([mine, second], op=hvd.Sum)
        copies = [mine.clone(), second.clone()]
        hvd.grouped_allreduce_(copies)
        ok = close(got[0], union.sum(0))[0] and close(got[1], union[:, :2].sum(0) * 3)[0]
        return ok and close(copies[1], union[:, :2].mean(0) * 3)[0], got

    def grouped_async() -> tuple[bool, Any]:
        h = hvd.grouped_allreduce_async([mine, mine * 2], op=hvd.Max)
        got = hvd.synchronize(h)
        return close(got[1], union.max(0).values * 2)

    for name, body in [
        ("in_place", in_place),
        ("async", async_ops),
        ("scaled", scaled),
        ("legacy_average", legacy_average),
        ("fp16", fp16),
        ("grouped", grouped),
        ("grouped_async", grouped_async),
    ]:
        run_case(f"allreduce/{name}", body)


def other_collectives(n: int) -> None:
    me = hvd.rank()

    def allgather() -> tuple[bool, Any]:
        pieces = [rank_tensor(r, (r + 1, 2), torch.float64, seed=2) for r in range(n)]
        got = hvd.allgather(pieces[me])
        bf = hvd.allgather(pieces[me].to(torch.bfloat16))
        h = hvd.allgather_async(pieces[me])
        ok = close(hvd.synchronize(h), torch.cat(pieces))[0]
        return ok and close(got, torch.cat(pieces))[0] and bf.dtype is torch.bfloat16, got

    def broadcast() -> tuple[bool, Any]:
        ok = True
        for root in range(n):
            want = rank_tensor(root, (2, 3), torch.int64, seed=3)
            mine = rank_tensor(me, (2, 3), torch.int64, seed=3)
            ok &= torch.equal(hvd.broadcast(mine, root), want)
            ok &= torch.equal(hvd.broadcast_(mine, root_rank=root), want) and torch.equal(
                mine, want
            )
            t = rank_tensor(me, (2, 3), torch.float32, seed=3)
            hvd.synchronize(hvd.broadcast_async_(t, root))
            ok &= torch.equal(t, rank_tensor(root, (2, 3), torch.float32, seed=3))
            flags = hvd.broadcast(torch.tensor([True, me == root, me == 0]), root)
            ok &= flags.dtype is torch.bool and flags.tolist() == [True, True, root == 0]
            small = hvd.broadcast(torch.full((2,), me, dtype=torch.uint8), root)
            ok &= small.dtype is torch.uint8 and small.tolist() == [root, root]
        return ok, ""

    def alltoall() -> tuple[bool, Any]:
        splits = [r + 1 for r in range(n)]  # rank me sends r+1 rows to rank r
        rows = sum(splits)
        mine = torch.arange(rows * 2, dtype=torch.float32).view(rows, 2) + 100 * me
        out, received = hvd.alltoall(mine, splits=torch.tensor(splits))
        start = sum(splits[:me])
        want = torch.cat(
            [
                torch.arange(rows * 2, dtype=torch.float32).view(rows, 2)[start : start + me + 1]
                + 100 * r
                for r in range(n)
            ]
        )
        even = hvd.alltoall(torch.full((n, 3), float(me)))
        ok = close(out, want)[0] and received.tolist() == [me + 1] * n
        return ok and torch.equal(even[:, 0], torch.arange(n, dtype=torch.float32)), (out, received)

    def reducescatter() -> tuple[bool, Any]:
        inputs = torch.stack([rank_tensor(r, (2 * n, 3), torch.float32, seed=4) for r in range(n)])
        got = hvd.reducescatter(inputs[me], op=hvd.Sum)
        avg = hvd.reducescatter(inputs[me])
        want = inputs.sum(0)[2 * me : 2 * me + 2]
        return close(got, want)[0] and close(avg, want / n)[0], got

    def join() -> tuple[bool, Any]:
        return hvd.join() == n - 1, ""

    for name, body in [
        ("allgather", allgather),
        ("broadcast", broadcast),
        ("alltoall", alltoall),
        ("reducescatter", reducescatter),
        ("join", join),
    ]:
        run_case(name, body)


def error_cases(n: int) -> None:
    me = hvd.rank()
    run_case(
        "error/mismatched_shape",
        lambda: raises(
            hvd.CollectiveMismatchError, lambda: hvd.allreduce(torch.ones(2 + me), name="bad")
        ),
    )
    run_case(
        "error/mismatched_shape_async",
        lambda: raises(
            hvd.CollectiveMismatchError,
            lambda: hvd.synchronize(hvd.allreduce_async(torch.ones(2, 1 + me), name="bad2")),
        ),
    )
    run_case(
        "error/wrong_root",
        lambda: raises(
            hvd.CollectiveMismatchError, lambda: hvd.broadcast(torch.ones(2), root_rank=n)
        ),
    )
    run_case(
        "error/wrong_root_object",
        lambda: raises(
            hvd.CollectiveMismatchError, lambda: hvd.broadcast_object({"a": 1}, root_rank=n + 1)
        ),
    )
    run_case(
        "error/bad_splits",
        lambda: raises(
            hvd.InvalidArgumentError, lambda: hvd.alltoall(torch.ones(n, 2), splits=[n + 5] * n)
        ),
    )
    run_case("error/not_a_handle", lambda: raises(TypeError, lambda: hvd.synchronize(3)))
    run_case("error/not_a_tensor", lambda: raises(TypeError, lambda: hvd.allreduce([1.0, 2.0])))


def objects(n: int) -> None:
    me = hvd.rank()

    def broadcast_object() -> tuple[bool, Any]:
        got = hvd.broadcast_object({"rank": me, "x": list(range(me * 10))}, root_rank=n - 1)
        return got == {"rank": n - 1, "x": list(range((n - 1) * 10))}, got

    def allgather_object() -> tuple[bool, Any]:
        got = hvd.allgather_object(("r", me, "y" * me))
        return got == [("r", r, "y" * r) for r in range(n)], got

    def broadcast_parameters() -> tuple[bool, Any]:
        torch.manual_seed(me)
        model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
        hvd.broadcast_parameters(model.state_dict(), root_rank=0)
        other = torch.nn.Linear(3, 2)
        hvd.broadcast_parameters(other.named_parameters(), root_rank=n - 1)
        digest = [
            float(p.double().sum()) for p in [*model.state_dict().values(), *other.parameters()]
        ]
        return all(d == digest for d in hvd.allgather_object(digest)), digest

    def broadcast_optimizer_state() -> tuple[bool, Any]:
        param = torch.nn.Parameter(torch.ones(3))
        opt = torch.optim.Adam([param], lr=0.1 * (me + 1))
        if me == 0:
            param.grad = torch.full((3,), 2.0)
            opt.step()
        hvd.broadcast_optimizer_state(opt, root_rank=0)
        state = opt.state_dict()
        summary = (
            state["param_groups"][0]["lr"],
            sorted(state["state"]),
            [float(v.sum()) for v in state["state"].get(0, {}).values()],
        )
        return all(s == summary for s in hvd.allgather_object(summary)) and summary[
            0
        ] == 0.1, summary

    for name, body in [
        ("broadcast_object", broadcast_object),
        ("allgather_object", allgather_object),
        ("broadcast_parameters", broadcast_parameters),
        ("broadcast_optimizer_state", broadcast_optimizer_state),
    ]:
        run_case(name, body)


def main() -> None:
    torch.set_num_threads(1)
    before_init()
    hvd.init()
    n = hvd.size()
    topology(n)
    allreduce_cases(n)
    other_collectives(n)
    objects(n)
    error_cases(n)
