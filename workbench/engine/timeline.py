"""Chrome-trace timeline of every collective (``WORKBENCH_TIMELINE=path.json``).

Open the file in chrome://tracing or https://ui.perfetto.dev. Each rank is a process
(rank 0 writes ``path.json``, rank ``r`` writes ``path.rank<r>.json``); each tensor name is
a thread. Phases, as "X" (complete) events:

- ``QUEUE``: an async request waited in the background engine's queue;
- ``NEGOTIATE``: the cross-rank call check (or the background cycle's count exchange);
- ``MEMCPY_IN_FUSION_BUFFER`` / ``MEMCPY_OUT_FUSION_BUFFER``: packing a fused batch;
- ``ALLREDUCE`` / ``ALLGATHER`` / ``BROADCAST`` / ...: the data phase.

Other event sources join the same file: ``ops.record_events(stats.chrome_trace(), origin=
stats.origin)`` adds tensor-swap events (``workbench.engine.swap.SwapStats``).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

TIMELINE_ENV = "WORKBENCH_TIMELINE"
_MAX_NAME = 200


def rank_path(path: str | Path, rank: int) -> Path:
    """Where rank ``rank`` writes: ``path`` itself for rank 0."""
    base = Path(path)
    return base if rank == 0 else base.with_name(f"{base.stem}.rank{rank}{base.suffix}")


class Timeline:
    """Appends trace events to one JSON array file; thread-safe; ``close()`` ends the array."""

    def __init__(self, path: str | Path, rank: int = 0) -> None:
        self.path = Path(path)
        self.rank = rank
        self.origin = time.perf_counter()
        self._lock = threading.Lock()
        self._tids: dict[str, int] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open("w", encoding="utf-8")
        self._file.write("[\n")
        self._first = True
        self._write(
            {"name": "process_name", "ph": "M", "pid": rank, "args": {"name": f"rank {rank}"}}
        )
        atexit.register(self.close)

    def now_us(self) -> float:
        return (time.perf_counter() - self.origin) * 1e6

    def tid(self, name: str) -> int:
        """The thread id standing for tensor ``name`` (announced once by a metadata event)."""
        short = name if len(name) <= _MAX_NAME else name[: _MAX_NAME - 3] + "..."
        with self._lock:
            if short in self._tids:
                return self._tids[short]
            tid = self._tids[short] = len(self._tids) + 1
        meta = {"name": "thread_name", "ph": "M", "pid": self.rank, "tid": tid}
        self._write({**meta, "args": {"name": short}})
        return tid

    def complete(self, name: str, phase: str, start_us: float, end_us: float, **args: Any) -> None:
        """One "X" event: ``phase`` of tensor ``name`` from ``start_us`` to ``end_us``."""
        event = {
            "name": phase,
            "cat": "collective",
            "ph": "X",
            "ts": round(start_us, 3),
            "dur": round(max(end_us - start_us, 0.0), 3),
            "pid": self.rank,
            "tid": self.tid(name),
        }
        if args:
            event["args"] = args
        self._write(event)

    @contextmanager
    def span(self, name: str, phase: str, **args: Any) -> Iterator[None]:
        start = self.now_us()
        try:
            yield
        finally:
            self.complete(name, phase, start, self.now_us(), **args)

    def add_events(
        self,
        events: Iterable[dict[str, Any]],
        origin: float | None = None,
        thread: str | None = None,
    ) -> int:
        """Add ready-made trace events (e.g. ``SwapStats.chrome_trace()``); ``origin`` is the
        ``time.perf_counter()`` their ``ts`` counts from, to line them up with ours;
        ``thread`` names the row they go on (else their own ``tid``)."""
        shift = 0.0 if origin is None else (origin - self.origin) * 1e6
        tid = None if thread is None else self.tid(thread)
        count = 0
        for event in events:
            moved = dict(event)
            if "ts" in moved:
                moved["ts"] = round(float(moved["ts"]) + shift, 3)
            moved["pid"] = self.rank
            if tid is not None:
                moved["tid"] = tid
            self._write(moved)
            count += 1
        return count

    def _write(self, event: dict[str, Any]) -> None:
        text = json.dumps(event)
        with self._lock:
            if self._file is None:
                return
            self._file.write(("" if self._first else ",\n") + text)
            self._first = False
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is None:
                return
            self._file.write("\n]\n")
            self._file.close()
            self._file = None


def timeline_from_env(rank: int) -> Timeline | None:
    """A ``Timeline`` when ``WORKBENCH_TIMELINE`` names a file, else ``None``."""
    path = os.environ.get(TIMELINE_ENV, "").strip()
    return Timeline(rank_path(path, rank), rank) if path else None


@contextmanager
def maybe_span(timeline: Timeline | None, name: str, phase: str, **args: Any) -> Iterator[None]:
    """``timeline.span(...)``, or nothing when the timeline is off."""
    if timeline is None:
        yield
        return
    with timeline.span(name, phase, **args):
        yield
