"""Async collectives: one background thread per engine runs queued requests, fusing them.

Each cycle (``WORKBENCH_CYCLE_TIME_MS``, default 1 ms, cut short once the queue holds a
fusion buffer's worth of bytes) the thread negotiates with its peers how many queued requests
every rank has (one 8-int64 allgather; the minimum wins), takes that many from the head of
its queue, groups consecutive compatible allreduces into fused batches of at most
``WORKBENCH_FUSION_THRESHOLD`` bytes and runs them. Every rank takes the same count and
groups it the same way, so fused buffers match. Ranks must enqueue in the same order; if
they do not, the call check of the fused batch raises ``CollectiveMismatchError`` on all of
them instead of reducing the wrong tensors together. ``join()`` (see ``join.py``) lets a
rank without more data stand in for the collectives the other ranks still queue.

The executor queues typed ``Request``s (see ``requests.py``) and hands them to its
``Engine``; it knows one engine, and the engine does not know it.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.engine.comm import Communicator
from workbench.engine.engine import Engine
from workbench.engine.errors import (
    CollectiveMismatchError,
    DuplicateNameError,
    EngineError,
    StallError,
)
from workbench.engine.fusion import fusion_threshold_from_env, plan_batches
from workbench.engine.join import JoinError, JoinTracker, StandIn, run_join_round
from workbench.engine.negotiation import CallDescriptor, CollectiveKind, first_dims
from workbench.engine.requests import Request
from workbench.engine.timeline import maybe_span

CYCLE_TIME_ENV = "WORKBENCH_CYCLE_TIME_MS"


class Handle:
    """The future of one async collective: ``poll()`` without blocking, ``wait()`` for it.

    Handles of one executor share its condition variable (creating an ``Event`` per
    request cost more than the rest of queueing one).
    """

    __slots__ = ("_cond", "_done", "_error", "_on_wait", "_result", "bytes_sent", "name")

    def __init__(
        self,
        name: str,
        on_wait: Callable[[], None] | None = None,
        cond: threading.Condition | None = None,
    ) -> None:
        self.name = name
        self.bytes_sent = 0  # payload bytes of the collective that carried it (fused: batch)
        self._on_wait = on_wait  # tells the executor someone waits: stop collecting, go
        self._cond = cond if cond is not None else threading.Condition()
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None

    def poll(self) -> bool:
        """True once the result (or error) is ready."""
        return self._done

    def wait(self, timeout: float | None = None) -> Any:
        """The result; re-raises the collective's error; ``StallError`` after ``timeout`` s."""
        if not self._done:
            if self._on_wait is not None:
                self._on_wait()
            with self._cond:
                if not self._cond.wait_for(lambda: self._done, timeout):
                    raise StallError(f"collective {self.name!r} not done after {timeout}s")
        if self._error is not None:
            raise self._error
        return self._result

    @property
    def error(self) -> BaseException | None:
        """The collective's error once done (None while running or on success)."""
        return self._error

    def finish(self, result: Any, bytes_sent: int) -> None:
        self._result, self.bytes_sent = result, bytes_sent
        with self._cond:
            self._done = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        self._error = error
        with self._cond:
            self._done = True
            self._cond.notify_all()


def finish_all(handles: list[Handle], results: list[Any], bytes_sent: int) -> None:
    """Finish many handles of one condition with one wake-up (a fused batch)."""
    if not handles:
        return
    for handle, result in zip(handles, results, strict=True):
        handle._result, handle.bytes_sent = result, bytes_sent
    cond = handles[0]._cond
    with cond:
        for handle in handles:
            handle._done = True
        cond.notify_all()


@dataclass(slots=True)
class Queued:
    """A request in the queue with its handle (``request`` None: ``join()``'s marker)."""

    request: Request | None
    handle: Handle
    nbytes: int = 0
    queued_us: float = 0.0  # when it was queued, on the engine's timeline clock

    @property
    def marks_join(self) -> bool:
        return self.request is None


class AsyncExecutor:
    """The communication thread of one engine (one per process set this rank is in)."""

    def __init__(
        self, engine: Engine, *, cycle_time: float | None = None, threshold: int | None = None
    ) -> None:
        if not engine.comm.supports_threads():
            raise EngineError(
                "MPI was initialised below MPI_THREAD_SERIALIZED, async collectives need it: "
                "import workbench.engine before mpi4py.MPI, or set mpi4py.rc.thread_level"
            )
        self.engine = engine
        if cycle_time is None:
            cycle_time = float(os.environ.get(CYCLE_TIME_ENV, "1.0")) / 1000.0
        self.cycle_time = cycle_time
        self.threshold = fusion_threshold_from_env() if threshold is None else threshold
        self._queue: deque[Queued] = deque()
        self._cond = threading.Condition()
        self._finished = threading.Condition()  # what this executor's handles wait on
        self._submitted = 0
        self._completed = 0
        self._stopping = False
        self._flush = False
        self._queued_bytes = 0
        self._named: set[str] = set()  # explicit names of this rank's requests in flight
        self.join_tracker = JoinTracker()
        self._thread = threading.Thread(target=self._loop, name="workbench-engine", daemon=True)
        self._thread.start()

    @property
    def rank(self) -> int:
        return self.engine.rank

    @property
    def comm(self) -> Communicator:
        return self.engine.comm

    # -- the caller's side ------------------------------------------------------------------
    def submit(self, request: Request) -> Handle:
        """Queue ``request`` (its arrays must stay unchanged until the handle is done)."""
        self.engine.raise_if_failed()
        explicit = request.name is not None
        request.name = self.engine.auto_name(request.kind.value, request.name)
        with self._cond:
            if explicit and request.name in self._named:
                raise DuplicateNameError(
                    f"a collective named {request.name!r} is still in flight on rank "
                    f"{self.rank}: synchronize it before queueing another with that name"
                )
            if explicit:
                self._named.add(request.name)
        entry = Queued(request, Handle(request.name, self.flush, self._finished), request.nbytes)
        return self._enqueue(entry)

    def run(self, request: Request) -> Any:
        """Queue ``request`` and wait for its result (a synchronous call, in queue order)."""
        if threading.current_thread() is self._thread:
            return self.engine.run(request)
        return self.submit(request).wait()

    def join(self) -> int:
        """This rank has no more data: stand in for the other ranks' collectives until every
        rank has joined; returns the rank that joined last (the same on every rank)."""
        if threading.current_thread() is self._thread:
            raise EngineError("join() cannot be called from the engine's own thread")
        marker = Queued(None, Handle("join", self.flush, self._finished))
        return int(self._enqueue(marker).wait())

    def _enqueue(self, entry: Queued) -> Handle:
        if self.engine.timeline is not None:
            entry.queued_us = self.engine.timeline.now_us()
        with self._cond:
            if self._stopping:
                raise EngineError("the engine is shutting down; no new collectives")
            was_empty = not self._queue
            self._queue.append(entry)
            self._queued_bytes += entry.nbytes
            self._submitted += 1
            if was_empty or self._queued_bytes >= self.threshold:
                self._cond.notify_all()
        return entry.handle

    def flush(self) -> None:
        """Run what is queued now instead of at the end of the cycle (a caller is waiting)."""
        with self._cond:
            self._flush = True
            self._cond.notify_all()

    def drain(self) -> None:
        """Return once everything this rank queued so far ran (no-op on the engine thread)."""
        if threading.current_thread() is self._thread:
            return
        with self._cond:
            self._flush = True
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._completed == self._submitted)

    def stop(self) -> None:
        """Run what is queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    # -- the engine thread ------------------------------------------------------------------
    def _loop(self) -> None:
        # the latest round's requests stay referenced until the next round: dropping them
        # frees framework tensors, which must not happen while the interpreter exits
        batch: list[Queued] = []
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                if not self._queue:
                    return
                self._cond.wait_for(self._cycle_full, timeout=self.cycle_time)
                pending = next(
                    (i for i, q in enumerate(self._queue) if q.marks_join), len(self._queue)
                )
                self._flush = False
            try:
                counts = self._negotiate(pending if pending else -1)  # -1: joined
                if min(counts) >= 0:
                    batch = self.pop(min(counts))
                    self.execute(batch)
                else:
                    batch = run_join_round(self, counts)
            except BaseException as exc:
                self._fail_everything(exc)

    def _cycle_full(self) -> bool:
        return self._stopping or self._flush or self._queued_bytes >= self.threshold

    def _negotiate(self, pending: int) -> list[int]:
        """Every rank's pending count (``-1``: that rank has joined)."""
        what = (
            f"the async queue's negotiation ({pending} requests here)"
            if pending >= 0
            else "join (this rank has joined and waits for the other ranks' collectives)"
        )
        with (
            self.engine.lock,
            self.engine.watching(what, patient=pending < 0),  # joined: waiting is the job
            maybe_span(self.engine.timeline, "async-queue", "NEGOTIATE"),
        ):
            call = CallDescriptor(CollectiveKind.NEGOTIATE, "async-queue", shape=(pending,))
            try:
                table = self.engine.agree(call).table
                assert table is not None
                return first_dims(table)
            except CollectiveMismatchError as exc:
                if pending >= 0:
                    raise
                raise JoinError(
                    f"{exc}\nWhile a rank has joined, the other ranks must queue collectives "
                    "through the async engine (the *_async calls, or the torch/Keras adapters)"
                ) from exc

    def peek(self, count: int) -> list[Request]:
        with self._cond:
            return [q.request for q in list(self._queue)[:count] if q.request is not None]

    def pop(self, count: int) -> list[Queued]:
        with self._cond:
            batch = [self._queue.popleft() for _ in range(count)]
            self._queued_bytes -= sum(q.nbytes for q in batch)
        return batch

    def fail_batch(self, batch: list[Queued], error: BaseException) -> None:
        self._release_names(batch)
        for entry in batch:
            entry.handle.fail(error)
        self._count_completed(batch)

    def _release_names(self, batch: list[Queued]) -> None:
        """Free the names before the handles finish: a waiter may reuse them at once."""
        with self._cond:
            self._named.difference_update(entry.handle.name for entry in batch)

    def _count_completed(self, batch: list[Queued]) -> None:
        with self._cond:
            self._completed += len(batch)
            self._cond.notify_all()

    def end_join(self, *, result: int = -1, error: BaseException | None = None) -> None:
        """Leave the joined state: ``join()`` returns ``result`` or raises ``error``."""
        (marker,) = self.pop(1)
        assert marker.marks_join, "the joined rank's queue must start with its join marker"
        if error is not None:
            marker.handle.fail(error)
        else:
            marker.handle.finish(result, 0)
        self._count_completed([marker])

    def run_stand_ins(self, stand_ins: list[StandIn]) -> None:
        """Take part in the other ranks' collectives with stand-ins (this rank has joined)."""
        entries = []
        for stand_in in stand_ins:
            request = stand_in.request()
            entries.append(
                Queued(request, Handle(stand_in.name, cond=self._finished), request.nbytes)
            )
        self.execute(entries, counted=False)
        for entry in entries:
            error = entry.handle.error
            if error is not None and not isinstance(error, CollectiveMismatchError):
                self.end_join(error=error)  # the engine failed: give up on joining
                return

    def exchange_object(self, obj: object, what: str) -> list[Any]:
        """Every rank's ``obj`` (join's plan exchange), under the engine's lock."""
        with self.engine.lock, self.engine.watching(what):
            return self.engine.comm.allgather_object(obj)

    def align_auto_names(self) -> None:
        """Joined ranks drew no auto names (``allreduce.N``) for the calls the others made;
        catch up, so the next auto-named call checks alike everywhere (collective)."""
        engine = self.engine
        with engine.lock:
            counters = engine.comm.allgather_int64(np.array([engine.calls_named], np.int64))
        engine.skip_auto_names(int(counters.max()))

    def execute(self, batch: list[Queued], *, counted: bool = True) -> None:
        requests = [q.request for q in batch]
        assert all(r is not None for r in requests), "join markers never reach execute"
        keys = [r.fuse_key if r is not None else None for r in requests]
        groups = plan_batches(keys, [q.nbytes for q in batch], self.threshold)
        for group in groups:
            entries = [batch[i] for i in group]
            timeline = self.engine.timeline
            if timeline is not None:
                now = timeline.now_us()
                for entry in entries:
                    timeline.complete(entry.handle.name, "QUEUE", entry.queued_us, now)
            try:
                results = self._run_group([e.request for e in entries if e.request])
                self._release_names(entries)
                handles = [entry.handle for entry in entries]
                finish_all(handles, results, self.engine.last_bytes_sent)
            except BaseException as exc:
                self._release_names(entries)
                for entry in entries:
                    entry.handle.fail(exc)
            finally:
                if counted:
                    self._count_completed(entries)

    def _run_group(self, requests: list[Request]) -> list[Any]:
        if len(requests) == 1:
            return [self.engine.run(requests[0])]
        for request in requests:
            if request.ready is not None:
                request.ready()
        name = "fused:" + "|".join(str(r.name) for r in requests)
        arrays = [r.arrays[0] for r in requests]
        return self.engine.grouped_allreduce(arrays, requests[0].options, name=name)

    def _fail_everything(self, exc: BaseException) -> None:
        """Negotiation failed (a peer is in another collective): fail every queued request."""
        error = (
            exc
            if isinstance(exc, CollectiveMismatchError | EngineError)
            else EngineError(f"async negotiation failed: {exc!r}")
        )
        self.engine.mark_failed(error)
        with self._cond:
            failed = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._completed += len(failed)
            self._named.clear()
            self._cond.notify_all()
        for entry in failed:
            entry.handle.fail(error)
