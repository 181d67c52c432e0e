"""``hvd.join()`` cases run inside real MPI ranks by ``test_join.py``.

Every rank regenerates every rank's data from seeds, so each computes the expected results
itself and prints one JSON line per case (``ok`` plus a detail).
"""

from __future__ import annotations

import copy
import time

import torch
from torch import nn

import workbench.engine.torch as hvd
from tests.engine.case_report import raises, run_case


def batch(rank: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(100 * rank + step)
    return torch.rand((4, 5), generator=gen), torch.randint(0, 3, (4,), generator=gen)


def local_grads(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> list[torch.Tensor]:
    model.zero_grad()
    nn.functional.cross_entropy(model(data[0]), data[1]).backward()
    return [p.grad.clone() for p in model.parameters()]  # type: ignore[union-attr]


def uneven_training(n: int) -> None:
    """Rank r trains r + 1 steps, then joins; the others' averages are sum / size."""
    me = hvd.rank()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    reference = copy.deepcopy(model)
    opt = hvd.DistributedOptimizer(
        torch.optim.SGD(model.parameters(), lr=0.1), named_parameters=model.named_parameters()
    )
    worst = 0.0
    for step in range(me + 1):
        nn.functional.cross_entropy(model(batch(me, step)[0]), batch(me, step)[1]).backward()
        opt.step()
        opt.zero_grad()
        # the reference: every rank still training at this step, averaged over all n ranks
        per_rank = [local_grads(reference, batch(r, step)) for r in range(step, n)]
        with torch.no_grad():
            for i, param in enumerate(reference.parameters()):
                param -= 0.1 * sum(g[i] for g in per_rank) / n
        for mine, want in zip(model.parameters(), reference.parameters(), strict=True):
            worst = max(worst, float((mine - want).abs().max()))
    last = hvd.join()
    after = hvd.allreduce(torch.ones(2), op=hvd.Sum)
    run_case("uneven/weights_follow_sum_over_size", lambda: (worst < 1e-5, worst))
    run_case("uneven/join_returns_last_joiner", lambda: (last == n - 1, last))
    run_case("uneven/collectives_after_join", lambda: (after.tolist() == [n, n], after))


def while_rank_zero_joined(n: int) -> None:
    """Rank 0 joins; the others use sync collectives, then ones a joined rank cannot join."""
    me = hvd.rank()
    if me == 0:
        errors: list[str] = []
        last = -1
        for _ in range(3):  # the first two joins end with the others' bad calls
            try:
                last = hvd.join()
                break
            except hvd.JoinError as exc:
                errors.append(str(exc))
        detail = f"{last} {errors}"
        ok = len(errors) == 2 and "root 0" in errors[0] and "alltoall" in errors[1]
        run_case("joined/errors_reach_joined_rank", lambda: (ok, detail))
    else:
        total = hvd.allreduce(torch.full((3,), me + 1.0), op=hvd.Sum)
        mean = hvd.allreduce(torch.full((3,), me + 1.0), op=hvd.Average)
        sent = hvd.broadcast(torch.arange(4.0) * me, root_rank=1)
        rows = hvd.allgather(torch.full((me, 2), me))
        obj = hvd.broadcast_object({"from": me, "data": list(range(me))}, root_rank=n - 1)
        want = float(sum(r + 1 for r in range(1, n)))
        want_rows = torch.cat([torch.full((r, 2), r) for r in range(1, n)])
        run_case("joined/allreduce_sum", lambda: (total.tolist() == [want] * 3, total))
        run_case("joined/allreduce_average_over_size", lambda: (mean.allclose(total / n), mean))
        run_case("joined/broadcast_from_active_root", lambda: (sent.equal(torch.arange(4.0)), sent))
        run_case("joined/allgather_no_rows_from_joined", lambda: (rows.equal(want_rows), rows))
        want_obj = {"from": n - 1, "data": list(range(n - 1))}
        run_case("joined/broadcast_object", lambda: (obj == want_obj, obj))
        bad_root = raises(hvd.JoinError, lambda: hvd.broadcast(torch.zeros(2), root_rank=0))
        run_case("joined/errors_reach_joined_rank", lambda: bad_root)
        alltoall = raises(hvd.JoinError, lambda: hvd.alltoall(torch.zeros(n)))
        run_case("joined/alltoall_raises", lambda: alltoall)
        last = hvd.join()
    run_case("joined/final_join_agrees", lambda: (hvd.allgather_object(last) == [last] * n, last))


def join_with_nothing_queued(n: int) -> None:
    start = time.monotonic()
    last = hvd.join()
    took = time.monotonic() - start
    run_case("idle/join_returns_promptly", lambda: (took < 10 and 0 <= last < n, (last, took)))


def main() -> None:
    torch.set_num_threads(1)
    hvd.init()
    n = hvd.size()
    for cases in (uneven_training, while_rank_zero_joined, join_with_nothing_queued):
        try:
            cases(n)
        except Exception as exc:  # report and stop: later cases would only hang or cascade
            run_case(cases.__name__, lambda exc=exc: (False, repr(exc)))
            break
    hvd.shutdown()
    run_case("done", lambda: (True, ""))
