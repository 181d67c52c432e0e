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
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine.errors import (
    CollectiveMismatchError,
    DuplicateNameError,
    EngineError,
    StallError,
)
from workbench.engine.fusion import fusion_threshold_from_env, plan_batches
from workbench.engine.join import JoinError, JoinTracker, StandIn, run_join_round
from workbench.engine.negotiation import CallDescriptor, CollectiveKind, agree, first_dims
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.timeline import maybe_span

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

CYCLE_TIME_ENV = "WORKBENCH_CYCLE_TIME_MS"


class Handle:
    """The future of one async collective: ``poll()`` without blocking, ``wait()`` for it."""

    def __init__(self, name: str, on_wait: Callable[[], None] | None = None) -> None:
        self.name = name
        self.bytes_sent = 0  # payload bytes of the collective that carried it (fused: batch)
        self._on_wait = on_wait  # tells the executor someone waits: stop collecting, go
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    def poll(self) -> bool:
        """True once the result (or error) is ready."""
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Any:
        """The result; re-raises the collective's error; ``StallError`` after ``timeout`` s."""
        if not self._done.is_set() and self._on_wait is not None:
            self._on_wait()
        if not self._done.wait(timeout):
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
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()


@dataclass
class AsyncRequest:
    """A queued collective: ``run`` does it alone; fusable allreduces also fill the rest."""

    handle: Handle
    run: Callable[[], Any]
    nbytes: int = 0
    fuse_key: Hashable | None = None  # equal keys may share one fused allreduce
    array: Any = None
    options: dict[str, Any] | None = None  # grouped_allreduce keyword arguments
    queued_us: float = 0.0  # when it was queued, on the engine's timeline clock
    stand_in: StandIn | None = None  # what a joined rank runs in its place (None: cannot)
    marks_join: bool = False  # join()'s marker: this rank queues nothing more before it


class AsyncExecutor:
    """The engine's communication thread (started by the first async call)."""

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
        self._queue: deque[AsyncRequest] = deque()
        self._cond = threading.Condition()
        self._submitted = 0
        self._completed = 0
        self._stopping = False
        self._flush = False
        self._queued_bytes = 0
        self.join_tracker = JoinTracker()
        self._named: dict[str, Handle] = {}  # latest handle per name (duplicate check)
        self._thread = threading.Thread(target=self._loop, name="workbench-engine", daemon=True)
        self._thread.start()
        engine.executor = self

    def submit(self, request: AsyncRequest) -> Handle:
        if self.engine.timeline is not None:
            request.queued_us = self.engine.timeline.now_us()
        with self._cond:
            if self._stopping:
                raise EngineError("the engine is shutting down; no new collectives")
            self._claim_name(request.handle)
            was_empty = not self._queue
            self._queue.append(request)
            self._queued_bytes += request.nbytes
            self._submitted += 1
            if was_empty or self._queued_bytes >= self.threshold:
                self._cond.notify_all()
        return request.handle

    def _claim_name(self, handle: Handle) -> None:
        """Refuse a second in-flight collective of the same name (Horovod does too: ranks
        pair collectives by name, two of one name cannot be told apart)."""
        prior = self._named.get(handle.name)
        if prior is not None and not prior.poll():
            raise DuplicateNameError(
                f"an async collective named {handle.name!r} is still in flight on this rank; "
                "synchronize it first or give this one another name"
            )
        if len(self._named) >= 4096:  # forget finished ones (auto names never repeat)
            self._named = {n: h for n, h in self._named.items() if not h.poll()}
        self._named[handle.name] = handle

    def flush(self) -> None:
        """Run what is queued now instead of at the end of the cycle (a caller is waiting)."""
        with self._cond:
            self._flush = True
            self._cond.notify_all()

    def drain_before_sync_call(self) -> None:
        if threading.current_thread() is self._thread:
            return
        with self._cond:
            self._cond.wait_for(lambda: self._completed == self._submitted)

    def stop(self) -> None:
        """Run what is queued, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()
        self.engine.executor = None

    def _loop(self) -> None:
        # the latest round's requests stay referenced until the next round: dropping them
        # frees framework tensors, which must not happen while the interpreter exits
        batch: list[AsyncRequest] = []
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                if not self._queue:
                    return
                self._cond.wait_for(self._cycle_full, timeout=self.cycle_time)
                pending = next(
                    (i for i, r in enumerate(self._queue) if r.marks_join), len(self._queue)
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
                return first_dims(agree(self.engine.comm, call))
            except CollectiveMismatchError as exc:
                if pending >= 0:
                    raise
                raise JoinError(
                    f"{exc}\nWhile a rank has joined, the other ranks must queue collectives "
                    "through the async engine (the *_async calls, or the torch/Keras adapters)"
                ) from exc

    def peek(self, count: int) -> list[AsyncRequest]:
        with self._cond:
            return [self._queue[i] for i in range(count)]

    def pop(self, count: int) -> list[AsyncRequest]:
        with self._cond:
            batch = [self._queue.popleft() for _ in range(count)]
            self._queued_bytes -= sum(r.nbytes for r in batch)
        return batch

    def fail_batch(self, batch: list[AsyncRequest], error: BaseException) -> None:
        for request in batch:
            request.handle.fail(error)
        self._count_completed(len(batch))

    def _count_completed(self, count: int) -> None:
        with self._cond:
            self._completed += count
            self._cond.notify_all()

    def end_join(self, *, result: int = -1, error: BaseException | None = None) -> None:
        """Leave the joined state: ``join()`` returns ``result`` or raises ``error``."""
        (marker,) = self.pop(1)
        assert marker.marks_join, "the joined rank's queue must start with its join marker"
        if error is not None:
            marker.handle.fail(error)
        else:
            marker.handle.finish(result, 0)
        self._count_completed(1)

    def run_stand_ins(self, stand_ins: list[StandIn]) -> None:
        """Take part in the other ranks' collectives with stand-ins (this rank has joined)."""
        requests = []
        for stand_in in stand_ins:
            run, payload = stand_in.call(self.engine)
            request = AsyncRequest(Handle(stand_in.name), run, stand_in.nbytes, stand_in.fuse_key)
            request.array, request.options = payload, stand_in.options
            requests.append(request)
        self.execute(requests, counted=False)
        for request in requests:
            error = request.handle.error
            if error is not None and not isinstance(error, CollectiveMismatchError):
                self.end_join(error=error)  # the engine failed: give up on joining
                return

    def execute(self, batch: list[AsyncRequest], *, counted: bool = True) -> None:
        keys = [r.fuse_key for r in batch]
        groups = plan_batches(keys, [r.nbytes for r in batch], self.threshold)
        for group in groups:
            requests = [batch[i] for i in group]
            timeline = self.engine.timeline
            if timeline is not None:
                now = timeline.now_us()
                for request in requests:
                    timeline.complete(request.handle.name, "QUEUE", request.queued_us, now)
            try:
                results = self._run_group(requests)
                for request, result in zip(requests, results, strict=True):
                    request.handle.finish(result, self.engine.last_bytes_sent)
            except BaseException as exc:
                for request in requests:
                    request.handle.fail(exc)
            finally:
                if counted:
                    self._count_completed(len(requests))

    def _run_group(self, requests: list[AsyncRequest]) -> list[Any]:
        if len(requests) == 1:
            return [requests[0].run()]
        options = dict(requests[0].options or {})
        options["name"] = "fused:" + "|".join(r.handle.name for r in requests)
        return self.engine.grouped_allreduce([r.array for r in requests], **options)

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
            self._cond.notify_all()
        for request in failed:
            request.handle.fail(error)


def executor_of(engine: Engine) -> AsyncExecutor:
    """The engine's executor, started on first use."""
    engine.raise_if_failed()
    if isinstance(engine.executor, AsyncExecutor):
        return engine.executor
    return AsyncExecutor(engine)


def allreduce_async(
    engine: Engine,
    array: Any,
    *,
    op: ReduceOp | str = ReduceOp.SUM,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    bfloat16_bits: bool = False,
) -> Handle:
    """Queue an allreduce; compatible queued allreduces are fused. Keep ``array`` unchanged
    until the handle is done."""
    executor = executor_of(engine)
    resolved = engine.auto_name("allreduce", name)
    data = np.asarray(array)
    options: dict[str, Any] = {
        "op": ReduceOp.parse(op),
        "prescale_factor": prescale_factor,
        "postscale_factor": postscale_factor,
        "bfloat16_bits": bfloat16_bits,
    }
    key = (data.dtype.str, *options.values())
    request = AsyncRequest(
        Handle(resolved, executor.flush),
        lambda: engine.allreduce(data, name=resolved, **options),
        nbytes=data.nbytes,
        fuse_key=key,
        array=data,
        options=options,
        stand_in=StandIn(
            "allreduce", resolved, data.dtype.str, (data.shape,), options, -1, key, data.nbytes
        ),
    )
    return executor.submit(request)


def submit_call(engine: Engine, kind: str, name: str | None, call: Callable[[str], Any]) -> Handle:
    """Queue any collective: ``call(resolved_name)`` runs on the engine's thread, unfused.

    While some rank has joined, ``call`` is first run in describe mode (see
    ``join.describe_by_dry_run``) to learn which engine collective a joined rank must
    stand in for.
    """
    executor = executor_of(engine)
    resolved = engine.auto_name(kind, name)
    return executor.submit(AsyncRequest(Handle(resolved, executor.flush), lambda: call(resolved)))


def _join_marker() -> None:
    raise EngineError("the join marker is not a collective; the executor handles it")


def join(engine: Engine) -> int:
    """This rank has no more data: stand in for the other ranks' collectives until every
    rank has joined; returns the rank that joined last (the same on every rank)."""
    executor = executor_of(engine)
    if threading.current_thread() is executor._thread:
        raise EngineError("join() cannot be called from the engine's own thread")
    handle = Handle("join", executor.flush)
    executor.submit(AsyncRequest(handle, _join_marker, marks_join=True))
    return int(handle.wait())
