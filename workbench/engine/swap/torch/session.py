"""Saved-tensor hooks that swap activations out during forward and back for backward.

One :class:`SwapSession` serves one forward pass (and the backward passes over its graph).
Autograd holds what ``pack`` returns; a :class:`_Handle` describes one saved tensor (dtype,
size, stride, offset) over a :class:`TorchEntry`, which owns the bytes of one storage. Several
saved tensors over the same storage (views, a tensor saved by two ops) share an entry, so
bytes move once and views stay views. When to move is decided by :class:`Residency`.
"""

from __future__ import annotations

import torch

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.residency import FREED, READING, SWAPPED, WRITING
from workbench.engine.swap.torch import movers
from workbench.engine.swap.torch.entry import TorchEntry, TorchResidency


class SavedTensorModifiedError(RuntimeError):
    """A tensor saved for backward was changed in place after it was saved."""


class _Handle:
    """What autograd keeps for one saved tensor; frees the entry's bytes when dropped."""

    __slots__ = ("dtype", "entry", "offset", "session", "size", "stride")

    def __init__(self, session: SwapSession, entry: TorchEntry, t: torch.Tensor) -> None:
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


class SwapSession(TorchResidency):
    """pack/unpack hooks plus the bookkeeping of one forward pass's saved activations."""

    def __init__(self, policy: SwapPolicy, exclude: set[int] | None = None) -> None:
        super().__init__(policy)
        self.exclude = exclude or set()
        self.live: dict[tuple[int, str], TorchEntry] = {}  # storage address -> its entry
        self.forward_open = True

    # ----- forward: pack -------------------------------------------------------------
    def pack(self, t: torch.Tensor) -> object:
        self.raise_pending_error()
        storage = t.untyped_storage()
        if isinstance(t, torch.nn.Parameter) or storage.data_ptr() in self.exclude:
            return _Resident(t)
        self.stats.saved_tensors += 1
        with self.lock:
            entry = self._same_bytes((storage.data_ptr(), str(t.device)), t)
            if entry is None:
                entry = TorchEntry(len(self.entries), t)
                self.live[entry.key] = entry
                self.admit(entry)
            handle = _Handle(self, entry, t)
            self.enforce_limits()
        self.apply_backpressure()
        return handle

    def _same_bytes(self, key: tuple[int, str], t: torch.Tensor) -> TorchEntry | None:
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

    def movable(self, entry: TorchEntry) -> bool:
        return movers.needs_move(self.policy.tier, entry.device, entry.nbytes)

    def swap_out(self, entry: TorchEntry) -> None:
        assert entry.tensor is not None
        if entry.tensor._version != entry.version:
            entry.modified = True  # unpack raises; the stale bytes are not worth moving
            entry.state = SWAPPED
            self.drop(entry)
            return
        entry.state = WRITING
        movers.swap_out(self, entry)

    def swap_in(self, entry: TorchEntry) -> None:
        movers.swap_in(self, entry)

    # ----- backward: unpack ------------------------------------------------------------
    def unpack(self, packed: object) -> torch.Tensor:
        if isinstance(packed, _Resident):
            if packed.tensor._version != packed.version:
                raise _modified_error(packed.tensor.dtype, packed.tensor.size())
            return packed.tensor
        assert isinstance(packed, _Handle)
        entry = packed.entry
        origin = entry.origin()  # alive: whoever holds it may have changed it in place
        if entry.modified or (origin is not None and origin._version != entry.version):
            raise _modified_error(packed.dtype, packed.size)
        with self.lock:
            storage = entry.storage  # still in memory while resident or being written out
            if storage is None and entry.state == SWAPPED:
                self.swap_in(entry)
            future = entry.future if entry.state == READING else None
        if storage is None:
            if future is not None:
                self.wait(future, entry.nbytes)
            if entry.error is not None:
                raise entry.error
            storage = entry.storage
        assert storage is not None, f"swap entry {entry.index} has no bytes ({entry.state})"
        with self.lock:
            self.prefetch_below(entry.index)
        movers.make_ready(self, entry)
        out = torch.empty((0,), dtype=packed.dtype, device=entry.device)
        return out.set_(storage, packed.offset, packed.size, packed.stride)

    # ----- lifetime ----------------------------------------------------------------------
    def release(self, entry: TorchEntry) -> None:
        """A saved tensor of ``entry`` was dropped by autograd (backward ran, graph freed)."""
        with self.lock:
            entry.handles -= 1
            if entry.handles > 0 or entry.state == FREED:
                return
        while True:
            with self.lock:
                future = entry.future
                if future is None or future.done():
                    if entry.handles == 0 and entry.state != FREED:
                        self._free(entry)
                    return
            # a move still running: let it end, so that the stats are final once backward
            # is (outside the lock: the move takes it to finish)
            self.wait(future, entry.nbytes)

    def still_needed(self, entry: TorchEntry) -> bool:
        return entry.handles > 0

    def _free(self, entry: TorchEntry) -> None:
        self.drop(entry)
        entry.host = None
        entry.state = FREED
        if self.live.get(entry.key) is entry:
            del self.live[entry.key]
        self.release_region(entry)
        if not self.forward_open and all(e.state == FREED for e in self.entries):
            self.close()

    def drop(self, entry: TorchEntry) -> None:
        """Let go of ``entry``'s in-memory bytes and take them off the resident count."""
        self.uncount(entry)
        entry.tensor = None
        entry.storage = None

    def end_forward(self) -> None:
        with self.lock:
            self.forward_open = False
            if all(e.state == FREED for e in self.entries):
                self.close()


def _modified_error(dtype: torch.dtype, size: torch.Size) -> SavedTensorModifiedError:
    return SavedTensorModifiedError(
        f"a tensor saved for backward ({dtype}, shape {tuple(size)}) was modified by an in-place "
        "operation after it was saved, so its gradient would be wrong; use the out-of-place "
        "form of that operation (e.g. `x = x.relu()` instead of `x.relu_()`)"
    )
