"""Saved-tensor hooks that swap activations out during forward and back for backward.

One :class:`SwapSession` serves one forward pass (and the backward passes over its graph).
Autograd holds what ``pack`` returns; a :class:`_Handle` describes one saved tensor (dtype,
size, stride, offset) over an :class:`_Entry`, which owns the bytes of one storage. Several
saved tensors over the same storage (views, a tensor saved by two ops) share an entry, so
bytes move once and views stay views.
"""

from __future__ import annotations

import collections
import threading
import time
import weakref
from concurrent.futures import Future
from typing import Any

import torch

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.spill import SpillDir
from workbench.engine.swap.stats import SwapStats
from workbench.engine.swap.torch import movers

# Entry states: where an entry's bytes are.
RESIDENT = "resident"  # original storage held in memory
WRITING = "writing"  # being copied out; the original is still held
SWAPPED = "swapped"  # only on the tier (pinned host memory or a file)
READING = "reading"  # being brought back
LOADED = "loaded"  # back in memory, ready for backward
FREED = "freed"  # no saved tensor refers to it any more

IN_FLIGHT_PER_THREAD = 2  # swap-outs queued per I/O thread before forward waits for them


class SavedTensorModifiedError(RuntimeError):
    """A tensor saved for backward was changed in place after it was saved."""


class _Entry:
    __slots__ = (
        "counted",
        "device",
        "error",
        "future",
        "handles",
        "host",
        "index",
        "key",
        "modified",
        "nbytes",
        "origin",
        "ready",
        "state",
        "storage",
        "tensor",
        "version",
    )

    def __init__(self, index: int, tensor: torch.Tensor) -> None:
        self.index = index
        self.key = (tensor.untyped_storage().data_ptr(), str(tensor.device))
        self.tensor: torch.Tensor | None = tensor  # the first saved tensor (version checks)
        self.origin = weakref.ref(tensor)  # alive => its storage (and address) is alive
        self.storage: torch.UntypedStorage | None = tensor.untyped_storage()
        self.nbytes = self.storage.nbytes()
        self.device = tensor.device
        self.version = tensor._version
        self.state = RESIDENT
        self.counted = False  # its bytes are in SwapStats.resident_bytes
        self.handles = 0
        self.modified = False
        self.error: BaseException | None = None
        self.future: Future[None] | None = None
        self.host: torch.Tensor | None = None  # pinned copy (CUDA tiers)
        self.ready: Any = None  # CUDA event: bytes are back on the device


class _Handle:
    """What autograd keeps for one saved tensor; frees the entry's bytes when dropped."""

    __slots__ = ("dtype", "entry", "offset", "session", "size", "stride")

    def __init__(self, session: SwapSession, entry: _Entry, t: torch.Tensor) -> None:
        self.session = session
        self.entry = entry
        self.dtype = t.dtype
        self.size = t.size()
        self.stride = t.stride()
        self.offset = t.storage_offset()
        entry.handles += 1

    def __del__(self) -> None:
        self.session.release(self.entry)


class _Resident:
    """A saved tensor the caller owns anyway (a parameter, or excluded): not counted, not moved."""

    __slots__ = ("tensor", "version")

    def __init__(self, t: torch.Tensor) -> None:
        self.tensor = t
        self.version = t._version


class SwapSession:
    """pack/unpack hooks plus the bookkeeping of one forward pass's saved activations."""

    def __init__(self, policy: SwapPolicy, exclude: set[int] | None = None) -> None:
        self.policy = policy
        self.stats = SwapStats()
        self.exclude = exclude or set()
        self.lock = threading.RLock()
        self.entries: list[_Entry] = []
        self.live: dict[tuple[int, str], _Entry] = {}  # storage address -> resident entry
        self.window: collections.deque[_Entry] = collections.deque()
        self.writing: collections.deque[_Entry] = collections.deque()
        self.largest = 0  # bytes of the largest movable entry so far
        self.spill = SpillDir(policy.spill_dir) if policy.tier == "disk" else None
        self.forward_open = True
        self.closed = False
        self.first_error: BaseException | None = None
        self.side_streams: dict[int, Any] = {}

    # ----- forward: pack -------------------------------------------------------------
    def pack(self, t: torch.Tensor) -> object:
        self._raise_pending_error()
        storage = t.untyped_storage()
        if isinstance(t, torch.nn.Parameter) or storage.data_ptr() in self.exclude:
            return _Resident(t)
        self.stats.saved_tensors += 1
        with self.lock:
            entry = self._same_bytes((storage.data_ptr(), str(t.device)), t)
            if entry is None:
                entry = _Entry(len(self.entries), t)
                self.entries.append(entry)
                self.live[entry.key] = entry
                self.count(entry)
                if entry.nbytes >= self.policy.min_bytes:
                    self.window.append(entry)  # small ones are counted, never moved
                    self.largest = max(self.largest, entry.nbytes)
            handle = _Handle(self, entry, t)
            self._enforce_limits()
        self._apply_backpressure()
        return handle

    def _same_bytes(self, key: tuple[int, str], t: torch.Tensor) -> _Entry | None:
        """The entry already holding ``t``'s storage at its current version, if any.

        Safe against address reuse: an entry matches only while its first tensor is alive.
        """
        entry = self.live.get(key)
        if entry is None or entry.modified or entry.state == FREED:
            return None
        origin = entry.origin()
        if origin is None:
            del self.live[key]
            return None
        if origin._version != entry.version or t._version != entry.version:
            return None
        return entry

    def _resident_target(self) -> int | None:
        """Resident bytes to get down to after a pack: the budget, less room for the next
        saved tensor (as large as the largest so far), so that the peak stays in budget."""
        budget = self.policy.budget_bytes
        return None if budget is None else max(0, budget - self.largest)

    def _enforce_limits(self) -> None:
        keep, target = self.policy.keep_resident, self._resident_target()
        while self.window and (
            (keep is not None and len(self.window) > keep)
            or (target is not None and self.stats.resident_bytes > target)
        ):
            entry = self.window.popleft()
            if entry.state == RESIDENT and movers.needs_move(
                self.policy.tier, entry.device, entry.nbytes
            ):
                self._swap_out(entry)

    def _swap_out(self, entry: _Entry) -> None:
        assert entry.tensor is not None
        if entry.tensor._version != entry.version:
            entry.modified = True  # unpack raises; the stale bytes are not worth moving
            entry.state = SWAPPED
            self.drop(entry)
            return
        entry.state = WRITING
        movers.swap_out(self, entry)
        if entry.state == WRITING:
            self.writing.append(entry)

    def _apply_backpressure(self) -> None:
        """Wait for swap-outs in flight while there are too many of them or, with a
        budget, until resident bytes are back on target: the forward pass must not run
        ahead of the I/O and pile up memory."""
        max_in_flight = IN_FLIGHT_PER_THREAD * self.policy.io_threads
        while True:
            with self.lock:
                while self.writing and self.writing[0].state != WRITING:
                    self.writing.popleft()
                target = self._resident_target()
                over_budget = target is not None and self.stats.resident_bytes > target
                if not self.writing or not (over_budget or len(self.writing) > max_in_flight):
                    return
                future, nbytes = self.writing[0].future, self.writing[0].nbytes
            assert future is not None
            self._wait(future, nbytes)
            self._raise_pending_error()

    # ----- backward: unpack ------------------------------------------------------------
    def unpack(self, packed: object) -> torch.Tensor:
        if isinstance(packed, _Resident):
            if packed.tensor._version != packed.version:
                raise _modified_error(packed.tensor.dtype, packed.tensor.size())
            return packed.tensor
        assert isinstance(packed, _Handle)
        entry = packed.entry
        if entry.modified:
            raise _modified_error(packed.dtype, packed.size)
        origin = entry.origin()  # alive: whoever holds it may have changed it in place
        if origin is not None and origin._version != entry.version:
            raise _modified_error(packed.dtype, packed.size)
        with self.lock:
            storage = entry.storage  # still in memory while resident or being written out
            if storage is None and entry.state == SWAPPED:
                movers.swap_in(self, entry)
            future = entry.future if entry.state == READING else None
        if storage is None:
            if future is not None:
                self._wait(future, entry.nbytes)
            if entry.error is not None:
                raise entry.error
            storage = entry.storage
        assert storage is not None, f"swap entry {entry.index} has no bytes ({entry.state})"
        with self.lock:
            self._prefetch_below(entry.index)
        movers.make_ready(self, entry)
        out = torch.empty((0,), dtype=packed.dtype, device=entry.device)
        return out.set_(storage, packed.offset, packed.size, packed.stride)

    def _wait(self, future: Future[None], nbytes: int) -> None:
        started = time.perf_counter()
        future.result()
        self.stats.wait_seconds += time.perf_counter() - started
        self.stats.record("swap_wait", started, nbytes)

    def _prefetch_below(self, index: int) -> None:
        """Start bringing back the next ``prefetch`` entries backward will need."""
        budget = self.policy.budget_bytes
        ahead, i = 0, index - 1
        while ahead < self.policy.prefetch and i >= 0:
            entry = self.entries[i]
            i -= 1
            if entry.state == FREED:
                continue
            ahead += 1
            if entry.state != SWAPPED:
                continue
            if budget is not None and self.stats.resident_bytes + entry.nbytes > budget:
                return
            self.stats.prefetched += 1
            movers.swap_in(self, entry)

    # ----- lifetime ----------------------------------------------------------------------
    def release(self, entry: _Entry) -> None:
        """A saved tensor of ``entry`` was dropped by autograd (backward ran, graph freed)."""
        with self.lock:
            entry.handles -= 1
            if entry.handles > 0 or entry.state == FREED:
                return
            if entry.future is not None and not entry.future.done():
                entry.handles += 1  # released again once its I/O is over
                entry.future.add_done_callback(lambda _: self.release(entry))
                return
            self.drop(entry)
            entry.host = None
            entry.state = FREED
            if self.live.get(entry.key) is entry:
                del self.live[entry.key]
            if self.spill is not None:
                self.spill.remove(entry.index)
            if not self.forward_open and all(e.state == FREED for e in self.entries):
                self.close()

    def count(self, entry: _Entry) -> None:
        """``entry``'s bytes are now in memory (on its device)."""
        if not entry.counted:
            entry.counted = True
            self.stats.add_resident(entry.nbytes)

    def drop(self, entry: _Entry) -> None:
        """Let go of ``entry``'s in-memory bytes and take them off the resident count."""
        if entry.counted:
            entry.counted = False
            self.stats.resident_bytes -= entry.nbytes
        entry.tensor = None
        entry.storage = None

    def end_forward(self) -> None:
        with self.lock:
            self.forward_open = False
            if all(e.state == FREED for e in self.entries):
                self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for entry in self.entries:
            if entry.future is not None:
                entry.future.cancel()
        if self.spill is not None:
            self.spill.close()

    def fail(self, error: BaseException) -> None:
        """An I/O thread failed: raise it on the training thread at the next hook call."""
        with self.lock:
            if self.first_error is None:
                self.first_error = error

    def _raise_pending_error(self) -> None:
        if self.first_error is not None:
            error, self.first_error = self.first_error, None
            raise error


def _modified_error(dtype: torch.dtype, size: torch.Size) -> SavedTensorModifiedError:
    return SavedTensorModifiedError(
        f"a tensor saved for backward ({dtype}, shape {tuple(size)}) was modified by an in-place "
        "operation after it was saved, so its gradient would be wrong; use the out-of-place "
        "form of that operation (e.g. `x = x.relu()` instead of `x.relu_()`)"
    )
