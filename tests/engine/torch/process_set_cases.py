"""The torch adapter's process sets on real MPI ranks (3 ranks: evens [0, 2], odds [1]).

Run by ``test_process_sets.py``: collectives and their gradients inside a set,
``broadcast_object`` with a root counted inside the set, and ``DistributedOptimizer`` on a
set (its members agree; a rank outside it trains alone).
"""

from __future__ import annotations

from typing import Any

import torch

import workbench.engine.torch as hvd
from tests.engine.case_report import emit, raises, run_case


def main() -> None:
    hvd.init()
    rank, size = hvd.rank(), hvd.size()
    evens = hvd.add_process_set([r for r in range(size) if r % 2 == 0])
    odds = hvd.add_process_set([r for r in range(size) if r % 2 == 1])
    mine = evens if rank % 2 == 0 else odds
    members = mine.ranks

    def allreduce_and_grad() -> tuple[bool, Any]:
        x = torch.full((3,), float(rank + 1), requires_grad=True)
        y = hvd.allreduce(x, op=hvd.Sum, process_set=mine)
        y.sum().backward()
        want = float(sum(r + 1 for r in members))
        assert x.grad is not None
        ok = torch.equal(y.detach(), torch.full((3,), want))
        ok = ok and torch.equal(x.grad, torch.full((3,), float(len(members))))  # Sum's adjoint
        return ok, (y, x.grad)

    run_case("allreduce_grad", allreduce_and_grad)

    def allgather_and_grad() -> tuple[bool, Any]:
        x = torch.full((mine.rank() + 1, 2), float(rank), requires_grad=True)  # type: ignore[operator]
        gathered = hvd.allgather(x, process_set=mine)
        (gathered * 2).sum().backward()
        rows = sum(i + 1 for i in range(len(members)))
        assert x.grad is not None
        ok = gathered.shape == (rows, 2) and torch.allclose(x.grad, torch.full_like(x, 2.0))
        return ok, (gathered.shape, x.grad)

    run_case("allgather_grad", allgather_and_grad)

    def broadcast_object_in_set() -> tuple[bool, Any]:
        got = hvd.broadcast_object({"from": rank}, root_rank=members[-1], process_set=mine)
        return got == {"from": members[-1]}, got

    run_case("broadcast_object", broadcast_object_in_set)

    def alltoall_in_set() -> tuple[bool, Any]:
        n = len(members)
        received, counts = hvd.alltoall(
            torch.full((n,), float(rank)), splits=[1] * n, process_set=mine
        )
        return received.tolist() == [float(r) for r in members] and counts.tolist() == [1] * n, (
            received,
            counts,
        )

    run_case("alltoall", alltoall_in_set)

    def optimizer_on_a_set() -> tuple[bool, Any]:
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        optimizer = hvd.DistributedOptimizer(
            torch.optim.SGD(model.parameters(), lr=0.1),
            named_parameters=model.named_parameters(),
            process_set=evens,
        )
        torch.manual_seed(100 + rank)  # different data on every rank
        loss = model(torch.randn(8, 4)).pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        weights = hvd.allgather(model.weight.detach().reshape(1, -1))
        same_as = [torch.equal(weights[rank], weights[r]) for r in range(size)]
        want = [
            (r % 2 == 0) == (rank % 2 == 0) if rank % 2 == 0 else r == rank for r in range(size)
        ]
        return same_as == want, same_as

    run_case("optimizer_on_set", optimizer_on_a_set)

    def outsider_refused() -> tuple[bool, Any]:
        other = odds if mine is evens else evens
        return raises(
            hvd.InvalidProcessSetError, lambda: hvd.allreduce(torch.ones(1), process_set=other)
        )

    run_case("outsider_refused", outsider_refused)
    hvd.remove_process_set(odds)
    hvd.remove_process_set(evens)
    hvd.shutdown()
    emit("done", True)
