"""Horovod API details run inside real MPI ranks by ``test_horovod_api.py``: scale factors,
grouped and sparse collectives, the errors Horovod code catches, the optimizer's options."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

import workbench.engine.torch as hvd
from tests.engine.case_report import raises, run_case


def scaling(n: int) -> None:
    me = hvd.rank()

    def half_prescale() -> tuple[bool, Any]:
        x = torch.arange(-8, 9, dtype=torch.float32).mul(3.7).half()
        got = hvd.allreduce(x, op=hvd.Sum, prescale_factor=0.3)
        scaled = (x.float() * np.float32(0.3)).half()  # float32 math, one rounding
        want = scaled.clone()
        for _ in range(n - 1):
            want = want + scaled  # summed in float16, as the ring does
        return torch.equal(got, want), (got, want)

    def int_average() -> tuple[bool, Any]:
        x = torch.tensor([7, -7, 8, -1], dtype=torch.int32) * (1 if me == 0 else 0)
        got = hvd.allreduce(x, op=hvd.Average)
        want = torch.div(torch.tensor([7, -7, 8, -1]), n, rounding_mode="trunc").int()
        return torch.equal(got, want), got

    def reducescatter_scaled() -> tuple[bool, Any]:
        x = torch.arange(2 * n * 3, dtype=torch.int64).reshape(2 * n, 3) - 5
        got = hvd.reducescatter(x, op=hvd.Sum, prescale_factor=0.5, postscale_factor=3.0)
        want = ((x.double() * 0.5).trunc().long() * n).double().mul(3.0).trunc().long()
        return torch.equal(got, want[2 * me : 2 * me + 2]), got

    run_case("scale/half_prescale", half_prescale)
    run_case("scale/int_average_truncates", int_average)
    run_case("scale/reducescatter", reducescatter_scaled)


def grouped_and_sparse(n: int) -> None:
    me = hvd.rank()

    def grouped_allgather() -> tuple[bool, Any]:
        got = hvd.grouped_allgather([torch.full((me + 1,), me), torch.full((2, 2), 1.0 * me)])
        ok = torch.equal(got[0], torch.cat([torch.full((r + 1,), r) for r in range(n)]))
        ok &= torch.equal(got[1], torch.cat([torch.full((2, 2), 1.0 * r) for r in range(n)]))
        return ok, got

    def grouped_reducescatter() -> tuple[bool, Any]:
        xs = [torch.ones(2 * n, 2) * (me + 1), torch.arange(n, dtype=torch.float64)]
        handle = hvd.grouped_reducescatter_async(xs, op=hvd.Sum)
        got = hvd.synchronize(handle)
        total = n * (n + 1) / 2
        ok = torch.equal(got[0], torch.full((2, 2), total)) and got[1].tolist() == [me * n]
        return ok and hvd.poll(handle), got

    def sparse() -> tuple[bool, Any]:
        dense = torch.zeros(6, 3)
        dense[me % 6, me % 3] = me + 1.0
        dense[5, 0] = 1.0
        reduced = hvd.sparse_allreduce_async(dense.to_sparse(), name="sp", op=hvd.Sum)()
        want = hvd.allreduce(dense, op=hvd.Sum)
        return reduced.is_sparse and torch.equal(reduced.to_dense(), want), reduced

    run_case("grouped_allgather", grouped_allgather)
    run_case("grouped_reducescatter", grouped_reducescatter)
    run_case("sparse_allreduce_async", sparse)


def horovod_errors(n: int) -> None:
    me = hvd.rank()

    def mismatch_is_runtime_error() -> tuple[bool, Any]:
        ok, err = raises(RuntimeError, lambda: hvd.allreduce(torch.ones(me + 2)))
        return ok and isinstance(err, hvd.CollectiveMismatchError | hvd.HorovodInternalError), err

    def duplicate_name() -> tuple[bool, Any]:
        first = hvd.allreduce_async(torch.ones(3), name="dup")
        ok, err = raises(ValueError, lambda: hvd.allreduce_async(torch.ones(3), name="dup"))
        ok &= isinstance(err, hvd.DuplicateNameError) and hvd.synchronize(first).tolist() == [1] * 3
        again = hvd.allreduce(torch.ones(3), name="dup")  # fine once the first is done
        return ok and again.tolist() == [1.0] * 3, err

    bad = {
        "uneven_default_split": lambda: hvd.alltoall(torch.ones(n + 1)),
        "float_splits": lambda: hvd.alltoall(torch.ones(n), torch.ones(n)),
        "splits_sum": lambda: hvd.alltoall(torch.ones(n - 1), torch.ones(n, dtype=torch.int32)),
        "scalar_scatter": lambda: hvd.reducescatter(torch.tensor(1.0)),
        "grouped_scalar_scatter": lambda: hvd.grouped_reducescatter(
            [torch.ones(n), torch.tensor(1.0)]
        ),
    }
    for name, call in bad.items():
        run_case(f"error/{name}", lambda call=call: raises(hvd.InvalidArgumentError, call))
    run_case("error/mismatch_is_runtime_error", mismatch_is_runtime_error)
    run_case("error/duplicate_name", duplicate_name)
    run_case(
        "error/adasum",
        lambda: raises(RuntimeError, lambda: hvd.reducescatter(torch.ones(n), op=hvd.Adasum)),
    )
    flags = (hvd.ccl_built(), hvd.gloo_built(), hvd.ddl_built(), hvd.mpi_enabled())
    run_case("built_flags", lambda: (flags == (False, False, False, True), flags))


def _same_everywhere(value: Any) -> bool:
    return all(v == value for v in hvd.allgather_object(value))


def optimizer_options(n: int) -> None:
    me = hvd.rank()

    def sparse_embeddings(as_dense: bool) -> tuple[bool, Any]:
        torch.manual_seed(0)
        model = torch.nn.Embedding(10, 3, sparse=True)
        opt = hvd.DistributedOptimizer(
            torch.optim.SparseAdam(list(model.parameters()), lr=0.1), sparse_as_dense=as_dense
        )
        model(torch.tensor([[1, 2, me + 3]])).sum().backward()
        opt.step()
        digest = [round(float(v), 6) for v in model.weight.detach().sum(1)]
        return _same_everywhere(digest) and model.weight.grad.is_sparse, digest

    def unused_branch() -> tuple[bool, Any]:
        torch.manual_seed(0)
        heads = torch.nn.ModuleList([torch.nn.Linear(3, 1), torch.nn.Linear(3, 1)])
        opt = hvd.DistributedOptimizer(
            torch.optim.SGD(heads.parameters(), lr=0.1), named_parameters=heads.named_parameters()
        )
        heads[me % 2](torch.ones(1, 3)).sum().backward()  # each rank uses one head only
        opt.step()
        grads = [float(p.grad.sum()) for p in heads.parameters()]
        return _same_everywhere(grads), grads

    def state_of_fresh_optimizer() -> tuple[bool, Any]:
        frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
        trained = torch.nn.Parameter(torch.full((2,), 1.0 + me))
        opt = hvd.DistributedOptimizer(torch.optim.SGD([frozen, trained], lr=0.1, momentum=0.9))
        hvd.broadcast_optimizer_state(opt, root_rank=0)
        ok = frozen.grad is None and trained.grad is not None and trained.tolist() == [1.0 + me] * 2
        return ok and len(opt.state_dict()["state"]) == 1, opt.state_dict()["state"]

    def step_after_synchronize_warns() -> tuple[bool, Any]:
        model = torch.nn.Linear(2, 1)
        opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1))
        model(torch.ones(1, 2)).sum().backward()
        opt.synchronize()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt.step()
        texts = [str(w.message) for w in caught]
        names = sorted(opt._parameter_names.values())
        return len(texts) == 1 and "skip_synchronize" in texts[0] and len(set(names)) == 2, texts

    run_case("optimizer/sparse_allgathered", lambda: sparse_embeddings(False))
    run_case("optimizer/sparse_as_dense", lambda: sparse_embeddings(True))
    run_case("optimizer/unused_branch", unused_branch)
    run_case("optimizer/state_of_fresh_optimizer", state_of_fresh_optimizer)
    run_case("optimizer/step_after_synchronize_warns", step_after_synchronize_warns)


def main() -> None:
    torch.set_num_threads(1)
    hvd.init()
    n = hvd.size()
    scaling(n)
    grouped_and_sparse(n)
    horovod_errors(n)
    optimizer_options(n)
