"""Intra-node allreduce in place in MPI shared-memory windows, without the MPI transport.

Arrays that live in a ``SharedBlock`` (``allocate_block``: the fusion buffer under the shm
topology, or ``Engine.shared_array``) are reduced where they are: the buffer is cut into one
segment per rank and each segment into columns of ``chunk_bytes``; for every column, rank
``r`` adds the peers' chunks of segment ``r`` into its own block, then copies the other
ranks' reduced chunks out of theirs. Per rank that is ``(N-1)/N`` of the buffer added and
copied once: less memory traffic than a point-to-point send of the whole buffer, which is
what makes this faster than the MPI link here.

Monotonic progress counters (one cache line each, in a small header window) order the
steps between ranks, so ranks move through the buffer column by column and read each
other's freshly written chunks from cache instead of running whole-buffer phases between
barriers. Waits spin briefly, then yield the core, and raise ``StallError`` after
``timeout`` seconds. (A copy-in variant for arbitrary arrays, through per-rank slots, was
measured slower than the MPI ring, so other arrays take the ring: see ``topology.py``.)
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.comm import Communicator, SharedArena
from workbench.engine.errors import EngineError, StallError
from workbench.engine.reduce_ops import Reducer
from workbench.engine.ring import even_counts, offsets_of

SHM_CHUNK_BYTES_ENV = "WORKBENCH_SHM_CHUNK_BYTES"
DEFAULT_SHM_CHUNK_BYTES = 1 << 20  # measured: 256 KiB-4 MiB within noise at 64 MiB
_LINE = 64  # bytes per progress counter, so no two counters share a cache line
_PUBLISHED, _REDUCED, _CONSUMED = 0, 1, 2  # per rank: columns ready / reduced / read
_HEADER_BYTES = 3 * _LINE
_SPINS_BEFORE_YIELD = 200


@dataclass
class SharedBlock:
    """``nbytes`` in every local rank's address space; ``mine`` is this rank's part."""

    arena: SharedArena
    nbytes: int
    mine: npt.NDArray[np.uint8]


class ShmAllreduce:
    """Allreduce over the ranks of one node through shared windows (collective init)."""

    def __init__(
        self,
        comm: Communicator,
        *,
        chunk_bytes: int | None = None,
        timeout: float = 300.0,
    ) -> None:
        if chunk_bytes is None:
            chunk_bytes = int(os.environ.get(SHM_CHUNK_BYTES_ENV, DEFAULT_SHM_CHUNK_BYTES))
        if chunk_bytes < 64:
            raise EngineError(f"{SHM_CHUNK_BYTES_ENV}={chunk_bytes}: shm chunks must be >= 64 B")
        chunk_bytes -= chunk_bytes % 64
        agreed = {int(v) for v in comm.allgather_int64(np.array([chunk_bytes]))[:, 0]}
        if len(agreed) != 1:
            raise EngineError(f"ranks disagree on {SHM_CHUNK_BYTES_ENV}: {sorted(agreed)}")
        self.comm, self.chunk_bytes, self.timeout = comm, chunk_bytes, timeout
        self._columns_done = 0
        self._arena = comm.allocate_shared(_HEADER_BYTES)
        self._blocks: list[SharedBlock] = []
        self._counters = [
            self._arena.region(q)[:_HEADER_BYTES].view(np.int64)[:: _LINE // 8]
            for q in range(comm.size)
        ]
        self._counters[comm.rank][:] = 0
        comm.barrier()

    def close(self) -> None:
        for block in self._blocks:
            block.arena.close()
        self._arena.close()

    # -- shared blocks ------------------------------------------------------------------------
    def allocate_block(self, nbytes: int) -> SharedBlock:
        """Collective: a new block of ``nbytes`` per rank, alive until ``close``."""
        arena = self.comm.allocate_shared(nbytes)
        block = SharedBlock(arena, nbytes, arena.region(self.comm.rank))
        self._blocks.append(block)
        return block

    def locate(self, array: npt.NDArray[Any]) -> tuple[SharedBlock, int] | None:
        """The block holding ``array`` (contiguous) and its byte offset there, if any."""
        if array.size == 0:
            return None
        address = array.__array_interface__["data"][0]
        for block in self._blocks:
            start = block.mine.__array_interface__["data"][0]
            if start <= address and address + array.nbytes <= start + block.nbytes:
                return block, address - start
        return None

    # -- progress counters ----------------------------------------------------------------------
    def _wait(self, owner: int, counter: int, target: int) -> None:
        values = self._counters[owner]
        spins = 0
        deadline = 0.0
        while values[counter] < target:
            spins += 1
            if spins < _SPINS_BEFORE_YIELD:
                continue
            time.sleep(0)  # yield the core (and the GIL, for the thread communicator)
            now = time.monotonic()
            if deadline == 0.0:
                deadline = now + self.timeout
            elif now > deadline:
                raise StallError(
                    f"shm allreduce: rank {self.comm.rank} waited {self.timeout:.0f}s for "
                    f"local rank {owner}; a rank died or called a different collective"
                )
        self._arena.fence()

    def _advance(self, counter: int, value: int) -> None:
        self._arena.fence()
        self._counters[self.comm.rank][counter] = value

    def _wait_all(self, counter: int, target: int) -> None:
        for peer in range(self.comm.size):
            if peer != self.comm.rank:
                self._wait(peer, counter, target)

    # -- the allreduce -------------------------------------------------------------------------
    def allreduce(
        self, block: SharedBlock, offset: int, count: int, dtype: np.dtype[Any], reducer: Reducer
    ) -> npt.NDArray[Any]:
        """Reduce ``count`` elements at byte ``offset`` of ``block`` in place on every rank.

        Every rank must pass the same block, offset and count (the engine checks).
        """
        nbytes = count * dtype.itemsize
        views = [
            block.arena.region(q)[offset : offset + nbytes].view(dtype)
            for q in range(self.comm.size)
        ]
        if self.comm.size == 1:
            return views[0]
        plan = _ColumnPlan(count, self.comm.size, self.chunk_bytes // dtype.itemsize)
        base = self._columns_done
        self._wait_all(_CONSUMED, base)  # nobody still reads the previous call's data
        self._advance(_PUBLISHED, base + plan.columns)  # our inputs are all in place
        for column in range(plan.columns):
            self._column(views, plan, column, base + column, reducer)
        self._columns_done = base + plan.columns
        self._wait_all(_CONSUMED, self._columns_done)  # peers are done reading our block
        return views[self.comm.rank]

    def _column(
        self,
        views: list[npt.NDArray[Any]],
        plan: _ColumnPlan,
        column: int,
        g: int,
        reducer: Reducer,
    ) -> None:
        """Reduce this rank's chunk of column ``g``, then copy the peers' reduced chunks."""
        rank = self.comm.rank
        mine = plan.part(views[rank], rank, column)
        for peer in range(self.comm.size):
            if peer != rank:
                self._wait(peer, _PUBLISHED, g + 1)
                reducer.reduce_into(mine, mine, plan.part(views[peer], rank, column))
        self._advance(_REDUCED, g + 1)
        for owner in range(self.comm.size):
            if owner != rank:
                self._wait(owner, _REDUCED, g + 1)
                np.copyto(
                    plan.part(views[rank], owner, column), plan.part(views[owner], owner, column)
                )
        self._advance(_CONSUMED, g + 1)


class _ColumnPlan:
    """``count`` elements cut into one segment per rank, each into ``chunk``-element columns."""

    def __init__(self, count: int, size: int, chunk: int) -> None:
        counts = even_counts(count, size)
        self.offsets = offsets_of(counts)
        self.chunk = max(1, chunk)
        self.columns = -(-counts[0] // self.chunk)

    def part(self, array: npt.NDArray[Any], segment: int, column: int) -> npt.NDArray[Any]:
        start = self.offsets[segment] + column * self.chunk
        return array[start : min(start + self.chunk, max(start, self.offsets[segment + 1]))]
