"""A swapping session for Keras/TensorFlow: saved layer inputs as numpy arrays.

The graph calls :meth:`KerasSwapSession.save` (a ``tf.py_function``) on a wrapped layer's
input during forward and :meth:`KerasSwapSession.load` in its gradient, which only runs
once backward reaches that layer (it depends on the incoming gradient): swap-in never
follows swap-out. Residency decisions are the shared ones of :class:`Residency`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.residency import (
    FREED,
    LOADED,
    READING,
    SWAPPED,
    WRITING,
    Entry,
    Residency,
    io_pool,
)

Array = npt.NDArray[Any]


class _ArrayEntry(Entry):
    __slots__ = ("array", "dtype", "shape")

    def __init__(self, index: int, array: Array) -> None:
        super().__init__(index, int(array.nbytes))
        self.array: Array | None = array
        self.dtype = array.dtype
        self.shape = array.shape


class KerasSwapSession(Residency[_ArrayEntry]):
    """Saved layer inputs of one or more training steps."""

    def __init__(self, policy: SwapPolicy) -> None:
        super().__init__(policy)
        self.pool = io_pool(policy.io_threads)

    def movable(self, entry: _ArrayEntry) -> bool:
        # Arrays handed to py_function live in host memory: only the disk tier frees it.
        # (On a GPU the copy to the host is the swap-out, done by py_function itself.)
        return self.policy.tier == "disk" and entry.nbytes > 0

    def save(self, array: Array) -> int:
        self.raise_pending_error()
        self.stats.saved_tensors += 1
        with self.lock:
            entry = _ArrayEntry(len(self.entries), array)
            self.admit(entry)
            self.enforce_limits()
        self.apply_backpressure()
        return entry.index

    def swap_out(self, entry: _ArrayEntry) -> None:
        assert entry.array is not None
        entry.state = WRITING
        data = np.ascontiguousarray(entry.array).data.cast("B")
        entry.future = self.pool.submit(self.write_out, entry, data, time.perf_counter())

    def drop(self, entry: _ArrayEntry) -> None:
        self.uncount(entry)
        entry.array = None

    def swap_in(self, entry: _ArrayEntry) -> None:
        """The entry's bytes, viewed in place in the spill arena (no copy, no I/O wait)."""
        entry.array = self.view_region(entry).view(entry.dtype).reshape(entry.shape)
        entry.state = LOADED
        self.count(entry)

    def load(self, index: int) -> Array:
        """The saved input of entry ``index``, for its layer's gradient; then let it go."""
        self.raise_pending_error()
        entry = self.entries[index]
        with self.lock:
            if entry.state == FREED:
                raise RuntimeError(f"swap entry {index} was already used by backward")
            if entry.state == SWAPPED:
                self.swap_in(entry)
            future = entry.future if entry.state == READING else None
            array = entry.array
        if array is None:
            if future is not None:
                self.wait(future, entry.nbytes)
            if entry.error is not None:
                raise entry.error
            array = entry.array
        assert array is not None, f"swap entry {index} has no bytes ({entry.state})"
        with self.lock:
            self.prefetch_below(index)
            self._free(entry)
        return np.asarray(array).reshape(entry.shape)

    def _free(self, entry: _ArrayEntry) -> None:
        if entry.future is not None and not entry.future.done():
            entry.future.add_done_callback(lambda _: self._free_locked(entry))
            return
        self.drop(entry)
        entry.state = FREED
        self.release_region(entry)

    def _free_locked(self, entry: _ArrayEntry) -> None:
        with self.lock:
            self._free(entry)
