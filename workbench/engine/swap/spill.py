"""The disk tier: swapped bytes live in memory-mapped spill files, reused step after step.

A :class:`SpillArena` owns a few large files under the spill directory, each mapped shared
and read-write once, then unlinked at once (nothing is left on disk, even after a crash).
Their blocks are reserved up front (``posix_fallocate``), so a full disk is a clear
``SpillError`` when the arena grows, never a ``SIGBUS`` in the middle of a step.

Swapping out copies a tensor's bytes into a free region (a memcpy into pages that stay
mapped from the last step: no page faults), then marks the pages cold, so that the kernel
reclaims them before any other memory. Swapping in hands out a view of
the region (no copy at all); the region becomes free again once that view and everything
made from it are gone. The kernel writes the dirty pages to the file and reclaims them
when memory runs short: that is what makes the tier save memory. It is what a file per
tensor did too, at several times the cost (open, write, map, unlink, and a page fault per
4 KiB on the way back).
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import errno
import mmap
import os
import sys
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ALIGN = 64  # region offsets: any dtype's alignment, and cache lines
MIN_CHUNK = 16 << 20
# Linux's "reclaim these pages first" (5.4+); Python's mmap module does not name it
MADV_COLD: int | None = getattr(mmap, "MADV_COLD", 20 if sys.platform == "linux" else None)
MAX_CHUNK = 1 << 30


class SpillError(OSError):
    """The spill directory cannot take (or give back) swapped bytes; says what to do."""


@dataclass(eq=False)
class Region:
    """``nbytes`` swapped bytes at ``offset`` of one of an arena's chunks."""

    chunk: _Chunk
    offset: int
    nbytes: int
    views: int = 0  # views handed out and still alive: free only once they are gone
    released: bool = False  # its owner let go of it
    returned: bool = False  # back in the chunk's free list


class _Chunk:
    """One spill file, mapped shared; its free space as sorted ``(offset, size)`` holes."""

    def __init__(self, root: Path, size: int) -> None:
        fd, name = tempfile.mkstemp(dir=root, prefix=".workbench-swap-", suffix=".bin")
        try:
            os.unlink(name)
            os.posix_fallocate(fd, 0, size)
            self.map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self.size = size
        self.holes: list[tuple[int, int]] = [(0, size)]

    def will_need(self, offset: int, nbytes: int) -> None:
        """Ask the kernel to read the range back in now if it was written out and evicted."""
        self._advise(mmap.MADV_WILLNEED, offset, nbytes)

    def cool(self, offset: int, nbytes: int) -> None:
        """Tell the kernel to reclaim the range before other memory (Linux >= 5.4)."""
        if MADV_COLD is not None:
            self._advise(MADV_COLD, offset, nbytes)

    def _advise(self, option: int, offset: int, nbytes: int) -> None:
        start = offset - offset % mmap.PAGESIZE
        with contextlib.suppress(OSError):  # a kernel without this advice: only a hint
            self.map.madvise(option, start, offset + nbytes - start)

    def take(self, nbytes: int) -> int | None:
        """The offset of a free ``nbytes`` (first fit), or None."""
        need = _aligned(nbytes)
        for i, (offset, size) in enumerate(self.holes):
            if size >= need:
                if size == need:
                    del self.holes[i]
                else:
                    self.holes[i] = (offset + need, size - need)
                return offset
        return None

    def give(self, offset: int, nbytes: int) -> None:
        """Put ``nbytes`` at ``offset`` back, merged with the holes next to it."""
        size = _aligned(nbytes)
        i = bisect.bisect(self.holes, (offset, size))
        if i < len(self.holes) and offset + size == self.holes[i][0]:
            size += self.holes.pop(i)[1]
        if i > 0 and self.holes[i - 1][0] + self.holes[i - 1][1] == offset:
            offset, size = self.holes[i - 1][0], self.holes[i - 1][1] + size
            i -= 1
            del self.holes[i]
        self.holes.insert(i, (offset, size))


def _aligned(nbytes: int) -> int:
    return max(ALIGN, -(-nbytes // ALIGN) * ALIGN)


class SpillArena:
    """Regions of memory-mapped spill files under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Holes change only under this (non-reentrant) lock. Releases and view finalizers
        # can run anywhere, a garbage collection in the middle of an allocation included:
        # they only queue an event and apply the queue if the lock is free; whoever holds
        # it applies the queue before letting go.
        self.lock = threading.Lock()
        self._events: collections.deque[tuple[str, Region]] = collections.deque()
        self.chunks: list[_Chunk] = []
        self._in_use = 0
        self.sessions = 0  # swapping sessions using this arena now (see spill_arena)
        try:
            root.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, probe = tempfile.mkstemp(dir=root, prefix=".workbench-probe-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise SpillError(
                exc.errno,
                f"swap spill dir {root} is not writable ({exc.strerror}); "
                "pass SwapPolicy(spill_dir=...) pointing at a writable directory",
            ) from exc

    @property
    def reserved_bytes(self) -> int:
        return sum(c.size for c in self.chunks)

    @property
    def bytes_in_use(self) -> int:
        with self.lock:
            self._apply_events()
            return self._in_use

    def store(self, data: memoryview) -> Region:
        """Copy ``data`` into a free region (the arena grows when none is big enough)."""
        region = self._allocate(data.nbytes)
        dst = np.frombuffer(region.chunk.map, np.uint8, data.nbytes, region.offset)
        np.copyto(dst, np.frombuffer(data, np.uint8))
        region.chunk.cool(region.offset, region.nbytes)
        return region

    def view(self, region: Region) -> npt.NDArray[np.uint8]:
        """The region's bytes, without a copy; the region is free again once this array
        (and every array or tensor made from it) is gone and :meth:`release` was called."""
        array = np.frombuffer(region.chunk.map, np.uint8, region.nbytes, region.offset)
        with self.lock:
            region.views += 1
            self._apply_events()
        weakref.finalize(array, self._queue, "view_gone", region)
        return array

    def read_into(self, region: Region, buffer: memoryview) -> None:
        """Copy the region's bytes into ``buffer`` (e.g. pinned memory bound for a GPU)."""
        src = np.frombuffer(region.chunk.map, np.uint8, region.nbytes, region.offset)
        np.copyto(np.frombuffer(buffer, np.uint8), src)

    def release(self, region: Region) -> None:
        """The owner is done with ``region``: free now, or once its views are gone."""
        self._queue("released", region)

    def _queue(self, event: str, region: Region) -> None:
        self._events.append((event, region))  # atomic: safe from any thread or finalizer
        if self.lock.acquire(blocking=False):  # else the holder applies it
            try:
                self._apply_events()
            finally:
                self.lock.release()

    def _apply_events(self) -> None:
        """Apply queued releases and vanished views (lock held)."""
        while self._events:
            event, region = self._events.popleft()
            if event == "released":
                region.released = True
            else:
                region.views -= 1
            if region.released and region.views == 0 and not region.returned:
                region.returned = True
                region.chunk.give(region.offset, region.nbytes)
                self._in_use -= region.nbytes

    def _allocate(self, nbytes: int) -> Region:
        with self.lock:
            try:
                self._apply_events()
                for chunk in self.chunks:
                    offset = chunk.take(nbytes)
                    if offset is not None:
                        break
                else:
                    chunk = self._grow(nbytes)
                    offset = chunk.take(nbytes)
                    assert offset == 0
                self._in_use += nbytes
                return Region(chunk, offset, nbytes)
            finally:
                self._apply_events()  # what finalizers queued meanwhile

    def trim(self) -> int:
        """Give back chunks with nothing in them (their file space and mapping); returns
        how many bytes of reservation went."""
        with self.lock:
            self._apply_events()
            empty = [c for c in self.chunks if c.holes == [(0, c.size)]]
            self.chunks = [c for c in self.chunks if c not in empty]
        return sum(c.size for c in empty)  # unmapped when the last reference goes

    def _grow(self, nbytes: int) -> _Chunk:
        """A new chunk: as large as the arena so far (so growth is geometric), at least
        what is asked; just what is asked if the disk has no room for more."""
        need = -(-_aligned(nbytes) // mmap.PAGESIZE) * mmap.PAGESIZE
        wanted = max(need, min(MAX_CHUNK, max(MIN_CHUNK, self.reserved_bytes)))
        for size in dict.fromkeys((wanted, need)):
            try:
                chunk = _Chunk(self.root, size)
            except OSError as exc:
                error = exc
                continue
            self.chunks.append(chunk)
            return chunk
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        hint = "free space there or " if full else ""
        raise SpillError(
            error.errno,
            f"cannot reserve {need} bytes for swapped tensors in {self.root}: "
            f"{error.strerror}; {hint}pass SwapPolicy(spill_dir=...) on a disk with room",
        ) from error


_ARENAS: dict[Path, SpillArena] = {}  # by directory, most recently used last
_ARENAS_LOCK = threading.Lock()
IDLE_ARENAS_KEPT = 2  # idle arenas of other directories kept mapped for their next session


def spill_arena(root: str | Path | None) -> SpillArena:
    """The process's arena under ``root`` (default: ``<tmp>/workbench-swap``), counted as
    used by one more session until :func:`leave_arena`.

    Arenas outlive their sessions, so a training loop writes into pages mapped by its
    previous step; the idle arenas of other directories beyond the latest few are dropped.
    """
    path = Path(root) if root is not None else Path(tempfile.gettempdir()) / "workbench-swap"
    path = path.absolute()
    with _ARENAS_LOCK:
        arena = _ARENAS.pop(path, None) or SpillArena(path)
        _ARENAS[path] = arena
        arena.sessions += 1
        idle = [p for p, a in _ARENAS.items() if p != path and a.sessions == 0]
        for other in idle[: max(0, len(idle) - IDLE_ARENAS_KEPT)]:
            if _ARENAS[other].bytes_in_use == 0:
                del _ARENAS[other]  # unmapped once the last view of it is gone
        return arena


def leave_arena(arena: SpillArena) -> None:
    """A session is done with ``arena``."""
    with _ARENAS_LOCK:
        arena.sessions -= 1


os.register_at_fork(after_in_child=_ARENAS.clear)  # a child must not share the free lists
