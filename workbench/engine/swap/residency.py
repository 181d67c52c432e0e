"""Which saved activations stay resident, which go out, and when they come back.

Framework-free bookkeeping shared by the PyTorch and Keras swappers: entries are admitted
in forward order; the oldest leave first (backward needs them last) when more than
``keep_resident`` are resident or resident bytes exceed the budget; the forward pass waits
for the I/O when it runs ahead; during backward, the next ``prefetch`` entries below the
one in use are brought back, never earlier. Subclasses say how bytes move.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.spill import Region, leave_arena, spill_arena
from workbench.engine.swap.stats import SwapStats

# Entry states: where an entry's bytes are.
RESIDENT = "resident"  # original bytes held in memory
WRITING = "writing"  # being copied out; the original is still held
SWAPPED = "swapped"  # only on the tier (host memory or a file)
READING = "reading"  # being brought back
LOADED = "loaded"  # back in memory, ready for backward
FREED = "freed"  # nothing refers to it any more

IN_FLIGHT_PER_THREAD = 2  # swap-outs queued per I/O thread before forward waits for them

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def io_pool(threads: int) -> ThreadPoolExecutor:
    """The process-wide pool of ``threads`` I/O threads (shared by all sessions)."""
    with _POOLS_LOCK:
        pool = _POOLS.get(threads)
        if pool is None:
            pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="workbench-swap")
            _POOLS[threads] = pool
        return pool


class Entry:
    """The bytes of one saved activation (or one shared storage)."""

    __slots__ = ("counted", "error", "future", "index", "nbytes", "region", "state")

    def __init__(self, index: int, nbytes: int) -> None:
        self.index = index
        self.nbytes = nbytes
        self.state = RESIDENT
        self.counted = False  # its bytes are in SwapStats.resident_bytes
        self.future: Future[None] | None = None
        self.error: BaseException | None = None
        self.region: Region | None = None  # where its bytes are on the disk tier


E = TypeVar("E", bound=Entry)


class Residency(Generic[E]):
    """Residency decisions over entries; subclasses implement the moves."""

    def __init__(self, policy: SwapPolicy) -> None:
        self.policy = policy
        self.stats = SwapStats()
        self.lock = threading.RLock()
        self.entries: list[E] = []
        self.window: collections.deque[E] = collections.deque()
        self.writing: collections.deque[E] = collections.deque()
        self.largest = 0  # bytes of the largest movable entry so far
        self.spill = spill_arena(policy.spill_dir) if policy.tier == "disk" else None
        self.first_error: BaseException | None = None
        self.closed = False

    # ----- what subclasses provide ---------------------------------------------------------
    def movable(self, entry: E) -> bool:
        raise NotImplementedError

    def swap_out(self, entry: E) -> None:
        """Start moving ``entry`` out (state WRITING, or SWAPPED if done at once)."""
        raise NotImplementedError

    def swap_in(self, entry: E) -> None:
        """Start bringing ``entry`` back (state READING, or LOADED if done at once)."""
        raise NotImplementedError

    def drop(self, entry: E) -> None:
        """Let go of ``entry``'s in-memory bytes and take them off the resident count."""
        raise NotImplementedError

    def still_needed(self, entry: E) -> bool:
        """Whether backward may still use ``entry``, a live one (prefetching it is worth it)."""
        return True

    # ----- moves shared by the frameworks ---------------------------------------------------
    def mark_swapped_out(self, entry: E, started: float) -> None:
        """``entry``'s bytes left memory (lock held)."""
        entry.state = SWAPPED
        self.drop(entry)
        self.stats.swapped_out_bytes += entry.nbytes
        self.stats.record("swap_out", started, entry.nbytes)

    def write_out(self, entry: E, data: memoryview, started: float) -> None:
        """On an I/O thread: copy ``entry``'s bytes to the disk tier, then let them go."""
        assert self.spill is not None
        try:
            region = self.spill.store(data)
        except OSError as exc:
            with self.lock:
                entry.state = RESIDENT  # nothing lost: the bytes never left memory
                self.fail(exc)
            return
        with self.lock:
            if self.keep_region(entry, region):
                self.mark_swapped_out(entry, started)

    def keep_region(self, entry: E, region: Region) -> bool:
        """``entry``'s bytes landed in ``region`` (lock held); False, and the region given
        back, when the session ended (an error) while they were being copied."""
        entry.region = region
        if self.closed:
            self.release_region(entry)
        return not self.closed

    def view_region(self, entry: E) -> npt.NDArray[np.uint8]:
        """``entry``'s bytes read in place from the disk tier, counted as swapped in."""
        assert self.spill is not None and entry.region is not None
        started = time.perf_counter()
        region = entry.region
        region.chunk.will_need(region.offset, region.nbytes)
        view = self.spill.view(region)
        self.stats.swapped_in_bytes += entry.nbytes
        self.stats.record("swap_in", started, entry.nbytes)
        return view

    # ----- forward ---------------------------------------------------------------------------
    def admit(self, entry: E) -> None:
        """A new saved activation (caller holds the lock)."""
        self.entries.append(entry)
        self.count(entry)
        if entry.nbytes >= self.policy.min_bytes:
            self.window.append(entry)  # small ones are counted, never moved
            self.largest = max(self.largest, entry.nbytes)

    def resident_target(self) -> int | None:
        """Resident bytes to get down to after an admit: the budget, less room for the next
        activation (as large as the largest so far), so that the peak stays in budget."""
        budget = self.policy.budget_bytes
        return None if budget is None else max(0, budget - self.largest)

    def enforce_limits(self) -> None:
        """Send the oldest resident entries out until the policy's limits hold (lock held)."""
        keep, target = self.policy.keep_resident, self.resident_target()
        while self.window and (
            (keep is not None and len(self.window) > keep)
            or (target is not None and self.stats.resident_bytes > target)
        ):
            entry = self.window.popleft()
            if entry.state == RESIDENT and self.movable(entry):
                self.swap_out(entry)
                if entry.state == WRITING:
                    self.writing.append(entry)

    def apply_backpressure(self) -> None:
        """Wait for swap-outs in flight while there are too many of them or, with a budget,
        until resident bytes are back on target: forward must not outrun the I/O."""
        max_in_flight = IN_FLIGHT_PER_THREAD * self.policy.io_threads
        while True:
            with self.lock:
                while self.writing and self.writing[0].state != WRITING:
                    self.writing.popleft()
                target = self.resident_target()
                over_budget = target is not None and self.stats.resident_bytes > target
                if not self.writing or not (over_budget or len(self.writing) > max_in_flight):
                    return
                future, nbytes = self.writing[0].future, self.writing[0].nbytes
            assert future is not None
            self.wait(future, nbytes)
            self.raise_pending_error()

    # ----- backward --------------------------------------------------------------------------
    def prefetch_below(self, index: int) -> None:
        """Start bringing back the next ``prefetch`` entries backward will need (lock held)."""
        budget = self.policy.budget_bytes
        ahead, i = 0, index - 1
        while ahead < self.policy.prefetch and i >= 0:
            entry = self.entries[i]
            i -= 1
            if entry.state == FREED or not self.still_needed(entry):
                continue
            ahead += 1
            if entry.state != SWAPPED:
                continue
            if budget is not None and self.stats.resident_bytes + entry.nbytes > budget:
                return
            self.stats.prefetched += 1
            self.swap_in(entry)

    def wait(self, future: Future[None], nbytes: int) -> None:
        started = time.perf_counter()
        future.result()
        self.stats.wait_seconds += time.perf_counter() - started
        self.stats.record("swap_wait", started, nbytes)

    # ----- accounting and errors -----------------------------------------------------------
    def count(self, entry: E) -> None:
        """``entry``'s bytes are now in memory (on its device)."""
        if not entry.counted:
            entry.counted = True
            self.stats.add_resident(entry.nbytes)

    def uncount(self, entry: E) -> None:
        if entry.counted:
            entry.counted = False
            self.stats.resident_bytes -= entry.nbytes

    def fail(self, error: BaseException) -> None:
        """An I/O thread failed: raise it on the training thread at the next hook call."""
        with self.lock:
            if self.first_error is None:
                self.first_error = error

    def raise_pending_error(self) -> None:
        if self.first_error is not None:
            error, self.first_error = self.first_error, None
            raise error

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for entry in self.entries:
            future = entry.future
            if future is not None and not future.cancel() and not future.done():
                with contextlib.suppress(BaseException):  # reported through fail()
                    future.result()  # a move running now: it ends before its bytes go
            self.release_region(entry)
        if self.spill is not None:
            leave_arena(self.spill)
        self.publish_events()

    def release_region(self, entry: E) -> None:
        """Give ``entry``'s disk-tier region back (once any view of it is gone)."""
        with self.lock:
            if entry.region is not None and self.spill is not None:
                self.spill.release(entry.region)
                entry.region = None

    def publish_events(self) -> None:
        """Put this session's swap-outs, swap-ins and waits on the engine's timeline
        (``WORKBENCH_TIMELINE``), next to the collectives, when one is being written."""
        from workbench.engine import ops  # the engine's timeline, if one is running

        ops.record_events(self.stats.chrome_trace(), self.stats.origin, "tensor swapping")
