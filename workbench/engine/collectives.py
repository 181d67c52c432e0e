"""The other collectives on flat buffers: allgatherv, broadcast, reduce-scatter, alltoallv.

They reuse the ring's pieces where it pays (allgather is the ring allgather, reduce-scatter
the ring reduce-scatter) and use a chunked chain for broadcast: the root streams chunks to
the next rank and every rank forwards chunk ``k`` while chunk ``k+1`` arrives, so a broadcast
costs each rank one receive and one send of the buffer however many ranks there are.

Sizes are agreed beforehand (``negotiation.CallCheck``); these functions only move data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.comm import Communicator, Request
from workbench.engine.reduce_ops import Reducer
from workbench.engine.ring import (
    RingWorkspace,
    offsets_of,
    ring_allgather,
    ring_reduce_scatter,
)

TAG_BROADCAST = 201
TAG_ALLTOALL = 202


def allgatherv(
    comm: Communicator, mine: npt.NDArray[Any], counts: list[int], workspace: RingWorkspace
) -> npt.NDArray[Any]:
    """Concatenation of every rank's flat ``mine`` (rank ``r`` contributes ``counts[r]``)."""
    offsets = offsets_of(counts)
    out = np.empty(offsets[-1], dtype=mine.dtype)
    out[offsets[comm.rank] : offsets[comm.rank + 1]] = mine
    ring_allgather(comm, out, counts, workspace)
    return out


def broadcast(
    comm: Communicator, buf: npt.NDArray[Any], root: int, workspace: RingWorkspace
) -> None:
    """Copy the root's flat contiguous ``buf`` into every rank's ``buf``, pipelined by chunk."""
    size = comm.size
    if size == 1 or buf.size == 0:
        return
    position = (comm.rank - root) % size
    nxt, prev = (comm.rank + 1) % size, (comm.rank - 1) % size
    chunk = workspace.chunk_elems(buf.itemsize)
    starts = range(0, buf.size, chunk)
    forward = position < size - 1
    sends: list[Request] = []
    if position == 0:
        sends = [comm.isend(buf[s : s + chunk], nxt, TAG_BROADCAST) for s in starts]
        comm.waitall(sends)
        return
    receives = [comm.irecv(buf[s : s + chunk], prev, TAG_BROADCAST) for s in starts]
    for start, request in zip(starts, receives, strict=True):
        request.Wait()
        if forward:
            sends.append(comm.isend(buf[start : start + chunk], nxt, TAG_BROADCAST))
    comm.waitall(sends)


def reduce_scatter(
    comm: Communicator,
    src: npt.NDArray[Any],
    counts: list[int],
    reducer: Reducer,
    workspace: RingWorkspace,
) -> npt.NDArray[Any]:
    """This rank's segment (``counts[rank]`` elements) of ``op`` over every rank's ``src``."""
    offsets = offsets_of(counts)
    work = np.empty_like(src)
    ring_reduce_scatter(comm, src, work, counts, reducer, workspace)
    return work[offsets[comm.rank] : offsets[comm.rank + 1]].copy()


def alltoallv(
    comm: Communicator,
    src: npt.NDArray[Any],
    send_counts: list[int],
    recv_counts: list[int],
) -> npt.NDArray[Any]:
    """Block ``j`` of ``src`` goes to rank ``j``; returns the blocks received, by source rank.

    Pairwise exchange: step ``s`` talks to ranks ``r+s`` and ``r-s``; all steps are posted at
    once and MPI progresses them together.
    """
    rank, size = comm.rank, comm.size
    send_offsets, recv_offsets = offsets_of(send_counts), offsets_of(recv_counts)
    out = np.empty(recv_offsets[-1], dtype=src.dtype)
    out[recv_offsets[rank] : recv_offsets[rank + 1]] = src[
        send_offsets[rank] : send_offsets[rank + 1]
    ]
    requests: list[Request] = []
    for step in range(1, size):
        source, dest = (rank - step) % size, (rank + step) % size
        if recv_counts[source]:
            block = out[recv_offsets[source] : recv_offsets[source + 1]]
            requests.append(comm.irecv(block, source, TAG_ALLTOALL))
        if send_counts[dest]:
            block = src[send_offsets[dest] : send_offsets[dest + 1]]
            requests.append(comm.isend(block, dest, TAG_ALLTOALL))
    comm.waitall(requests)
    return out
