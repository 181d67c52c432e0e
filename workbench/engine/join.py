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

Anything else (alltoall, reducescatter, barrier, Min/Max/Product allreduces, collectives
queued without a description) raises the same ``JoinError`` on every rank: the non-joined
ranks' request fails and the joined ranks' ``join()`` raises (they are active again). When
every rank has joined, ``join()`` returns the rank that joined last (the highest rank among
those that joined in the same round) on every rank.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import ReduceOp

if TYPE_CHECKING:
    from workbench.engine.background import AsyncExecutor, AsyncRequest
    from workbench.engine.engine import Engine

STAND_IN_KINDS = ("allreduce", "grouped_allreduce", "broadcast", "allgather")
_ZERO_SAFE_OPS = (ReduceOp.SUM, ReduceOp.AVERAGE)


class JoinError(EngineError):
    """A collective was issued while some rank had joined that a joined rank cannot stand
    in for; raised on every rank (the joined ranks' ``join()`` raises it)."""


@dataclass(frozen=True)
class StandIn:
    """What a joined rank needs to take part in one queued collective (picklable)."""

    kind: str  # one of STAND_IN_KINDS, or another kind's name (not supported during join)
    name: str = ""
    dtype: str = ""  # numpy dtype string of the payload
    shapes: tuple[tuple[int, ...], ...] = ()  # one shape; grouped allreduce: one per array
    options: dict[str, Any] = field(default_factory=dict)  # the engine call's keywords
    root: int = -1  # broadcast
    fuse_key: Hashable | None = None
    nbytes: int = 0

    def problem(self, joined: Sequence[int]) -> str | None:
        """Why the joined ranks cannot stand in for this call, or None."""
        who = f"{self.kind} {self.name!r}"
        ranks = f"rank(s) {list(joined)} have joined"
        if self.kind not in STAND_IN_KINDS or not self.dtype:
            return (
                f"{who} is not supported while {ranks}: only allreduce, grouped allreduce, "
                "broadcast and allgather queued through the async engine are; issue it "
                "before join() or after every rank's join() returned"
            )
        op = self.options.get("op", ReduceOp.SUM)
        if self.kind.endswith("allreduce") and op not in _ZERO_SAFE_OPS:
            return (
                f"{who} with op {ReduceOp.parse(op).value} is not supported while {ranks}: "
                "joined ranks contribute zeros, which only Sum and Average ignore"
            )
        if self.kind == "broadcast" and self.root in joined:
            return (
                f"broadcast {self.name!r} from root {self.root}: rank {self.root} has already "
                "joined and has no data to send; broadcast from a rank that has not joined"
            )
        if self.kind == "allgather" and not self.shapes[0]:
            return f"{who} of a 0-d array is not supported while {ranks}: gather 1-d or more"
        return None

    def call(self, engine: Engine) -> tuple[Callable[[], Any], Any]:
        """The stand-in's engine call and its payload (zeros, or an empty receive buffer)."""
        dtype = np.dtype(self.dtype)
        if self.kind == "allreduce":
            data = np.zeros(self.shapes[0], dtype)
            return lambda: engine.allreduce(data, name=self.name, **self.options), data
        if self.kind == "grouped_allreduce":
            arrays = [np.zeros(shape, dtype) for shape in self.shapes]
            return lambda: engine.grouped_allreduce(arrays, name=self.name, **self.options), arrays
        if self.kind == "broadcast":
            buf = np.zeros(self.shapes[0], dtype)
            return lambda: engine.broadcast(buf, self.root, name=self.name), buf
        rows = np.zeros((0, *self.shapes[0][1:]), dtype)
        return lambda: engine.allgather(rows, name=self.name), rows


def stand_in_of(
    kind: str, name: str, arrays: Sequence[Any], options: dict[str, Any], root: int = -1
) -> StandIn:
    """The stand-in for an engine call on ``arrays`` (numpy-convertible, one dtype)."""
    data = [np.asarray(a) for a in arrays]
    dtype = data[0].dtype.str if data else ""
    shapes = tuple(a.shape for a in data)
    return StandIn(kind, name, dtype, shapes, options, root, None, sum(a.nbytes for a in data))


class DescribedCall(Exception):
    """Raised by the engine instead of communicating while a call is being described."""

    def __init__(self, stand_in: StandIn) -> None:
        super().__init__(stand_in.kind)
        self.stand_in = stand_in


def describe_by_dry_run(engine: Engine, request: AsyncRequest) -> StandIn:
    """What an opaque queued call (``submit_call`` without a stand-in) would run: call it
    with the engine in describe mode, where collectives raise ``DescribedCall``."""
    engine.describing_thread = threading.get_ident()
    try:
        request.run()
    except DescribedCall as described:
        return described.stand_in
    except Exception as exc:
        return StandIn(f"collective failing before it starts ({exc!r})", request.handle.name)
    finally:
        engine.describing_thread = None
    return StandIn("call without a collective", request.handle.name)


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


def plan_round(
    engine: Engine, requests: Sequence[AsyncRequest], joined: Sequence[int]
) -> RoundPlan:
    """The leader's plan: stand-ins for the longest run of supported requests, or the first
    request alone with the problem that stops the joined ranks from standing in for it."""
    stand_ins: list[StandIn] = []
    for request in requests:
        described = request.stand_in or describe_by_dry_run(engine, request)
        problem = described.problem(joined)
        if problem is not None:
            return (stand_ins, None) if stand_ins else ([described], problem)
        stand_ins.append(described)
    return stand_ins, None


def run_join_round(executor: AsyncExecutor, counts: Sequence[int]) -> list[AsyncRequest]:
    """One negotiation round in which some rank has joined (``counts[r] < 0``); returns
    this rank's requests that it ran or failed."""
    engine, tracker = executor.engine, executor.join_tracker
    joined = [r for r, c in enumerate(counts) if c < 0]
    tracker.note(joined)
    if len(joined) == len(counts):
        _finish_join(executor)
        return []
    active = [(r, c) for r, c in enumerate(counts) if c >= 0]
    leader, count = active[0][0], min(c for _, c in active)
    plan: RoundPlan | None = None
    if engine.rank == leader:
        plan = plan_round(engine, executor.peek(count), joined)
    with engine.lock, engine.watching(f"join: the plan of rank {leader}'s next collectives"):
        received: RoundPlan = engine.comm.allgather_object(plan)[leader]
    stand_ins, problem = received
    if problem is not None:  # every rank took this branch: the problem came from the leader
        tracker.reset()  # the joined ranks leave join with the error
        _align_auto_names(engine)
    if counts[engine.rank] < 0:
        if problem is not None:
            executor.end_join(error=JoinError(problem))
        else:
            executor.run_stand_ins(stand_ins)
        return []
    batch = executor.pop(len(stand_ins))
    if problem is not None:
        executor.fail_batch(batch, JoinError(problem))
    else:
        executor.execute(batch)
    return batch


def _finish_join(executor: AsyncExecutor) -> None:
    """Every rank has joined: align auto-name counters (joined ranks did not count the names
    the others drew meanwhile) and return the last joiner from every ``join()``."""
    _align_auto_names(executor.engine)
    last = executor.join_tracker.last
    executor.join_tracker.reset()
    executor.end_join(result=last)


def _align_auto_names(engine: Engine) -> None:
    """Joined ranks drew no auto names (``allreduce.N``) for the calls the others made;
    catch up, so the next auto-named call checks alike everywhere (collective)."""
    with engine.lock:
        counters = engine.comm.allgather_int64(np.array([engine.calls_named], dtype=np.int64))
    engine.skip_auto_names(int(counters.max()))
