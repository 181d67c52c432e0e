"""Join: a rank with no more data stands in for the collectives the other ranks still issue.

``join()`` queues a marker behind everything this rank already queued. Once the marker is at
the head of the queue the rank is *joined*: its negotiation row reports ``-1`` instead of a
pending count. Rounds where nobody is joined run exactly as before. In a round where some
rank is joined, the non-joined ranks agree on ``min(pending)`` as usual, and the lowest
non-joined rank (the leader) sends the stand-in descriptions of the requests about to run
(one object exchange, only in such rounds). Joined ranks build stand-ins from them and run
the same grouping, so fused buffers and call checks match:

- allreduce / grouped allreduce: zeros of the same dtype and shape (Sum adds nothing;
  Average still divides by the full world size: the result is the non-joined sum / size);
- broadcast: the joined rank receives and discards (a joined root is an error);
- allgather: the joined rank contributes zero rows.

Anything else (alltoall, reducescatter, barrier, Min/Max/Product allreduces) raises the
same ``JoinError`` on every rank: the non-joined ranks' request fails and the joined ranks'
``join()`` raises (they are active again). When every rank has joined, ``join()`` returns
the rank that joined last (the highest rank among those that joined in the same round) on
every rank. Stand-ins are planned over the queued ``Request``s themselves; the round is
driven by the async executor (``background.py``) through ``JoinHost``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from workbench.engine.comm import Communicator
from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import SUM, AllreduceOptions, Kind, Request

STAND_IN_KINDS = (
    Kind.ALLREDUCE,
    Kind.GROUPED_ALLREDUCE,
    Kind.BROADCAST,
    Kind.ALLGATHER,
    Kind.ALLGATHERV,
)
_ZERO_SAFE_OPS = (ReduceOp.SUM, ReduceOp.AVERAGE)


class JoinError(EngineError):
    """A collective was issued while some rank had joined that a joined rank cannot stand
    in for; raised on every rank (the joined ranks' ``join()`` raises it)."""


@dataclass(frozen=True)
class StandIn:
    """What a joined rank needs to take part in one queued collective (picklable)."""

    kind: Kind
    name: str
    dtype: str = ""  # numpy dtype string of the payload
    shapes: tuple[tuple[int, ...], ...] = ()  # one shape; grouped allreduce: one per array
    options: AllreduceOptions = field(default=SUM)
    root: int = -1  # broadcast

    @classmethod
    def of(cls, request: Request) -> StandIn:
        data = [np.asarray(a) for a in request.arrays]
        dtype = data[0].dtype.str if data else ""
        shapes = tuple(a.shape for a in data)
        name = request.name or request.kind.value  # queued requests are named already
        return cls(request.kind, name, dtype, shapes, request.options, request.root)

    def problem(self, joined: Sequence[int]) -> str | None:
        """Why the joined ranks cannot stand in for this call, or None."""
        who = f"{self.kind.value} {self.name!r}"
        ranks = f"rank(s) {list(joined)} have joined"
        if self.kind not in STAND_IN_KINDS or not self.dtype:
            return (
                f"{who} is not supported while {ranks}: only allreduce, grouped allreduce, "
                "broadcast and allgather are; issue it before join() or after every "
                "rank's join() returned"
            )
        op = self.options.op
        if self.kind in (Kind.ALLREDUCE, Kind.GROUPED_ALLREDUCE) and op not in _ZERO_SAFE_OPS:
            return (
                f"{who} with op {op.value} is not supported while {ranks}: "
                "joined ranks contribute zeros, which only Sum and Average ignore"
            )
        if self.kind is Kind.BROADCAST and self.root in joined:
            return (
                f"broadcast {self.name!r} from root {self.root}: rank {self.root} has already "
                "joined and has no data to send; broadcast from a rank that has not joined"
            )
        if self.kind in (Kind.ALLGATHER, Kind.ALLGATHERV) and not self.shapes[0]:
            return f"{who} of a 0-d array is not supported while {ranks}: gather 1-d or more"
        return None

    def request(self) -> Request:
        """The joined rank's request: zeros to add, a buffer to discard, no rows to gather."""
        dtype = np.dtype(self.dtype)
        if self.kind in (Kind.ALLGATHER, Kind.ALLGATHERV):
            arrays = [np.zeros((0, *self.shapes[0][1:]), dtype)]
        else:
            arrays = [np.zeros(shape, dtype) for shape in self.shapes]
        return Request(self.kind, self.name, arrays, self.options, self.root)


@dataclass
class JoinTracker:
    """Which ranks have joined, as every rank saw it round by round (equal everywhere)."""

    seen: frozenset[int] = frozenset()
    last: int = -1

    def note(self, joined: Sequence[int]) -> None:
        newly = set(joined) - self.seen
        if newly:
            self.last = max(newly)
        self.seen = frozenset(joined)

    def reset(self) -> None:
        self.seen, self.last = frozenset(), -1


RoundPlan = tuple[list[StandIn], str | None]


def plan_round(requests: Sequence[Request], joined: Sequence[int]) -> RoundPlan:
    """The leader's plan: stand-ins for the longest run of supported requests, or the first
    request alone with the problem that stops the joined ranks from standing in for it."""
    stand_ins: list[StandIn] = []
    for request in requests:
        described = StandIn.of(request)
        problem = described.problem(joined)
        if problem is not None:
            return (stand_ins, None) if stand_ins else ([described], problem)
        stand_ins.append(described)
    return stand_ins, None


class JoinHost(Protocol):
    """What a join round needs from the async executor that runs it."""

    join_tracker: JoinTracker

    @property
    def rank(self) -> int: ...

    @property
    def comm(self) -> Communicator: ...

    def peek(self, count: int) -> list[Request]: ...

    def pop(self, count: int) -> list[Any]: ...

    def execute(self, batch: list[Any]) -> None: ...

    def fail_batch(self, batch: list[Any], error: BaseException) -> None: ...

    def end_join(self, *, result: int = -1, error: BaseException | None = None) -> None: ...

    def run_stand_ins(self, stand_ins: list[StandIn]) -> None: ...

    def exchange_object(self, obj: object, what: str) -> list[Any]: ...

    def align_auto_names(self) -> None: ...


def run_join_round(host: JoinHost, counts: Sequence[int]) -> list[Any]:
    """One negotiation round in which some rank has joined (``counts[r] < 0``); returns
    this rank's queued entries that it ran or failed."""
    tracker = host.join_tracker
    joined = [r for r, c in enumerate(counts) if c < 0]
    tracker.note(joined)
    if len(joined) == len(counts):
        _finish_join(host)
        return []
    active = [(r, c) for r, c in enumerate(counts) if c >= 0]
    leader, count = active[0][0], min(c for _, c in active)
    plan: RoundPlan | None = None
    if host.rank == leader:
        plan = plan_round(host.peek(count), joined)
    what = f"join: the plan of rank {leader}'s next collectives"
    received: RoundPlan = host.exchange_object(plan, what)[leader]
    stand_ins, problem = received
    if problem is not None:  # every rank took this branch: the problem came from the leader
        tracker.reset()  # the joined ranks leave join with the error
        host.align_auto_names()
    if counts[host.rank] < 0:
        if problem is not None:
            host.end_join(error=JoinError(problem))
        else:
            host.run_stand_ins(stand_ins)
        return []
    batch = host.pop(len(stand_ins))
    if problem is not None:
        host.fail_batch(batch, JoinError(problem))
    else:
        host.execute(batch)
    return batch


def _finish_join(host: JoinHost) -> None:
    """Every rank has joined: align auto-name counters (joined ranks did not count the names
    the others drew meanwhile) and return the last joiner from every ``join()``."""
    host.align_auto_names()
    last = host.join_tracker.last
    host.join_tracker.reset()
    host.end_join(result=last)
