"""Background operations: long work started by a request, polled by the UI.

A handler submits a function and answers 202 at once with the operation; the function
runs on a worker thread, its progress bars (:mod:`workbench.progress`) update the
operation's ``progress``, and its result or error (mapped like a response would be)
waits in the record. Finished records are kept for an hour, the newest 200 at most.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import Conflict, NotFound
from workbench.progress import reporting_to
from workbench.server.base import status_for

log = logging.getLogger("workbench.operations")
KEEP_S = 3600.0
KEEP_MAX = 200


@dataclass
class Operation:
    id: str
    kind: str
    state: str = "running"  # running, succeeded, failed
    started: float = field(default_factory=time.time)
    finished: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "state": self.state, "started": self.started,
            "finished": self.finished, "progress": dict(self.progress), "result": self.result,
            "error": self.error,
        }  # fmt: skip


class Operations:
    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="wb-op")
        self._ops: dict[str, Operation] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._keys: dict[tuple[str, str], str] = {}  # (kind, key) -> its latest operation

    def submit(
        self, kind: str, work: Callable[[], Any], *, key: str | None = None, long: bool = False
    ) -> Operation:
        """Start ``work``. ``key``: at most one running operation of this kind per key
        (Conflict otherwise). ``long``: it may run for hours (a study), so it gets a thread
        of its own instead of holding one of the pool's few workers."""
        op = Operation(id=f"op{next(self._ids)}-{int(time.time() * 1000) % 100000}", kind=kind)
        with self._lock:
            running = self._keys.get((kind, key)) if key is not None else None
            if running is not None and self._ops[running].state == "running":
                raise Conflict(f"{kind} {key} is already running as operation {running}")
            self._prune()
            self._ops[op.id] = op
            if key is not None:
                self._keys[(kind, key)] = op.id
        if long:
            threading.Thread(target=self._run, args=(op, work), name=f"wb-{op.id}",
                             daemon=True).start()  # fmt: skip
        else:
            self._pool.submit(self._run, op, work)
        return op

    def _run(self, op: Operation, work: Callable[[], Any]) -> None:
        def sink(desc: str, done: int, total: int | None) -> None:
            op.progress = {"desc": desc, "done": done, "total": total}

        try:
            with reporting_to(sink):
                result = work()
            op.result = result.to_dict() if hasattr(result, "to_dict") else result
            op.state = "succeeded"
        except Exception as exc:  # reported to the poller, like a response would be
            status = status_for(exc)
            if status is None:
                log.exception("workbench operation %s (%s) failed", op.id, op.kind)
            message = str(exc) if status is not None else f"internal error: {exc!r}"
            op.error = {"message": message, "reason": type(exc).__name__, "status": status or 500}
            op.state = "failed"
        finally:
            op.finished = time.time()

    def get(self, op_id: str) -> Operation:
        with self._lock:
            op = self._ops.get(op_id)
        if op is None:
            raise NotFound(f"operation {op_id} does not exist (finished ones are kept an hour)")
        return op

    def _prune(self) -> None:
        now = time.time()
        done = sorted(
            (o for o in self._ops.values() if o.finished is not None), key=lambda o: o.finished or 0
        )
        for old in done:
            if now - (old.finished or now) > KEEP_S or len(self._ops) > KEEP_MAX:
                del self._ops[old.id]
        self._keys = {k: op_id for k, op_id in self._keys.items() if op_id in self._ops}
