"""Accounting of one swapping session: bytes moved, peak residency, time spent waiting."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class SwapEvent:
    """One swap-out or swap-in, in the engine timeline's terms (microseconds since start)."""

    name: str  # "swap_out" | "swap_in" | "swap_wait"
    start_us: float
    duration_us: float
    nbytes: int


@dataclass
class SwapStats:
    """Counters of a swapping session (one or more forward/backward passes)."""

    saved_tensors: int = 0
    swapped_out_bytes: int = 0
    swapped_in_bytes: int = 0
    resident_bytes: int = 0
    peak_resident_bytes: int = 0
    wait_seconds: float = 0.0
    prefetched: int = 0
    events: list[SwapEvent] = field(default_factory=list)
    origin: float = field(default_factory=time.perf_counter)

    def add_resident(self, nbytes: int) -> None:
        self.resident_bytes += nbytes
        self.peak_resident_bytes = max(self.peak_resident_bytes, self.resident_bytes)

    def record(self, name: str, started: float, nbytes: int) -> None:
        now = time.perf_counter()
        self.events.append(
            SwapEvent(name, (started - self.origin) * 1e6, (now - started) * 1e6, nbytes)
        )

    def as_metrics(self, prefix: str = "swap/") -> dict[str, float]:
        """Flat numbers for a per-step log line or MLflow metrics."""
        return {
            f"{prefix}saved_tensors": float(self.saved_tensors),
            f"{prefix}swapped_out_bytes": float(self.swapped_out_bytes),
            f"{prefix}swapped_in_bytes": float(self.swapped_in_bytes),
            f"{prefix}peak_resident_bytes": float(self.peak_resident_bytes),
            f"{prefix}wait_seconds": self.wait_seconds,
            f"{prefix}prefetched": float(self.prefetched),
        }

    def chrome_trace(self, pid: int = 0, tid: int = 1) -> list[dict[str, object]]:
        """The swap events as Chrome trace ("X" complete) events."""
        return [
            {
                "name": e.name,
                "cat": "swap",
                "ph": "X",
                "ts": e.start_us,
                "dur": e.duration_us,
                "pid": pid,
                "tid": tid,
                "args": {"bytes": e.nbytes},
            }
            for e in self.events
        ]
