"""Ring reduce-scatter and allgather, chunked and pipelined; allreduce is the two in a row.

The flat buffer of ``n`` elements is cut into one segment per rank (``counts``). In the
reduce-scatter, step ``s`` sends segment ``r-1-s`` to the next rank and receives segment
``r-2-s`` from the previous one, reducing it with this rank's own contribution; after ``N-1``
steps rank ``r`` holds the fully reduced segment ``r``. The allgather then passes finished
segments around the ring, receiving straight into the destination.

Segments travel in chunks of ``chunk_bytes`` and the pipeline runs across steps, not just
within one: chunk ``k`` received (and reduced) in step ``t`` is sent on in step ``t+1`` at
once, so the allgather of chunk ``k`` starts while later chunks are still being reduced and
the peer reads a freshly reduced chunk while it is still hot in cache. Receives are
processed in wavefront order (chunk ``k`` of step ``t`` after chunk ``k + lag`` of step
``t-1``). Receives land straight in the destination and are reduced there (``dst = op(src,
dst)``, no temporary, no extra copy); only an in-place call (``src is dst``) receives its
reduce-scatter chunks into ``depth`` preallocated buffers first. Each step has its own tag,
so MPI's in-order matching pairs the right chunks. Each rank sends ``2 (N-1)/N * S`` bytes
for an allreduce of ``S`` bytes (exactly the other ranks' segments, twice).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.comm import Communicator, Request
from workbench.engine.errors import EngineError
from workbench.engine.reduce_ops import Reducer

CHUNK_BYTES_ENV = "WORKBENCH_RING_CHUNK_BYTES"
DEFAULT_CHUNK_BYTES = 4 << 20  # measured: 4-32 MiB equal at 64 MiB, 1-2 MiB slower
TAG_RING = 1000  # ring step t sends with tag TAG_RING + t
_NO_REDUCE, _DIRECT = -1, -2  # receive markers: plain copy / reduce in dst (else a buffer)


def even_counts(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` counts differing by at most one, larger ones first."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def offsets_of(counts: list[int]) -> list[int]:
    """Start offset of each segment (``len(counts) + 1`` entries, the last is the total)."""
    out = [0]
    for count in counts:
        out.append(out[-1] + count)
    return out


def ring_allreduce_bytes(nbytes: int, size: int) -> float:
    """Bytes each rank sends in a ring allreduce of ``nbytes``: ``2 (N-1)/N * S``."""
    return 2.0 * (size - 1) / size * nbytes


@dataclass
class RingWorkspace:
    """Receive buffers reused by every reduce-scatter step; no per-step allocation."""

    chunk_bytes: int = field(
        default_factory=lambda: int(os.environ.get(CHUNK_BYTES_ENV, DEFAULT_CHUNK_BYTES))
    )
    depth: int = 3
    _raw: list[npt.NDArray[np.uint8]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.chunk_bytes < 64 or self.depth < 1:
            raise EngineError(
                f"ring chunk size {self.chunk_bytes} B / depth {self.depth} too small: "
                f"set {CHUNK_BYTES_ENV} to at least 64 (bytes)"
            )

    def chunk_elems(self, itemsize: int) -> int:
        return max(1, self.chunk_bytes // itemsize)

    def buffers(self, dtype: np.dtype[Any]) -> list[npt.NDArray[Any]]:
        """``depth`` buffers of ``chunk_elems`` elements of ``dtype`` (views of raw bytes)."""
        if not self._raw:
            self._raw = [np.empty(self.chunk_bytes + 16, dtype=np.uint8) for _ in range(self.depth)]
        elems = self.chunk_elems(dtype.itemsize)
        return [raw[: elems * dtype.itemsize].view(dtype) for raw in self._raw]


@dataclass(frozen=True)
class RingStep:
    """Send segment ``send`` to the next rank and receive segment ``recv`` from the previous
    one, reducing it with this rank's own contribution when ``reduce``."""

    send: int
    recv: int
    reduce: bool


def ring_steps(rank: int, size: int, *, scatter: bool, gather: bool) -> list[RingStep]:
    """Reduce-scatter steps leave segment ``rank`` reduced; allgather steps spread them."""
    steps = []
    if scatter:
        steps += [
            RingStep((rank - 1 - s) % size, (rank - 2 - s) % size, True) for s in range(size - 1)
        ]
    if gather:
        steps += [
            RingStep((rank - s) % size, (rank - s - 1) % size, False) for s in range(size - 1)
        ]
    return steps


class _RingPipeline:
    """Runs ring steps chunk by chunk, pipelined across steps (see the module docstring)."""

    def __init__(
        self,
        comm: Communicator,
        arrays: tuple[npt.NDArray[Any], npt.NDArray[Any]],
        counts: list[int],
        steps: Sequence[RingStep],
        workspace: RingWorkspace,
    ) -> None:
        self.comm, self.steps = comm, steps
        self.src, self.dst = arrays
        self.offsets = offsets_of(counts)
        self.chunk = workspace.chunk_elems(self.dst.itemsize)
        # out of place, reduce-scatter chunks arrive straight in dst and are reduced there;
        # in place (src is dst) they need receive buffers, or they would overwrite src
        self.direct = self.src is not self.dst
        self.buffers = [] if self.direct else workspace.buffers(self.dst.dtype)
        self.free = deque(range(len(self.buffers)))
        self.window, self.lag = 2 * workspace.depth, workspace.depth
        self.nxt, self.prev = (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size
        self.sends: list[Request] = []
        self.reading_dst: dict[tuple[int, int], Request] = {}  # sends not done with dst

    def span(self, segment: int, k: int) -> tuple[int, int]:
        start = self.offsets[segment] + k * self.chunk
        return start, min(start + self.chunk, self.offsets[segment + 1])

    def chunks(self, segment: int) -> int:
        return -(-(self.offsets[segment + 1] - self.offsets[segment]) // self.chunk)

    def send(self, t: int, k: int, source: npt.NDArray[Any]) -> None:
        start, stop = self.span(self.steps[t].send, k)
        request = self.comm.isend(source[start:stop], self.nxt, TAG_RING + t)
        self.sends.append(request)
        if source is self.dst:
            self.reading_dst[(self.steps[t].send, k)] = request

    def receive(self, t: int, k: int) -> tuple[int, int, Request, int]:
        step = self.steps[t]
        start, stop = self.span(step.recv, k)
        if step.reduce and self.direct:
            buffer, target = _DIRECT, self.dst[start:stop]
        elif step.reduce:
            buffer = self.free.popleft()
            target = self.buffers[buffer][: stop - start]
        else:
            buffer, target = _NO_REDUCE, self.dst[start:stop]
            earlier = self.reading_dst.pop((step.recv, k), None)
            if earlier is not None:
                earlier.Wait()  # MPI: a send's buffer is off limits until the send completes
        return t, k, self.comm.irecv(target, self.prev, TAG_RING + t), buffer

    def run(self, reducer: Reducer | None) -> None:
        steps = self.steps
        first_source = self.src if steps[0].reduce else self.dst
        for k in range(self.chunks(steps[0].send)):
            self.send(0, k, first_source)
        order = [(t, k) for t, step in enumerate(steps) for k in range(self.chunks(step.recv))]
        order.sort(key=lambda e: (e[1] + e[0] * self.lag, e[0]))
        pending: deque[tuple[int, int, Request, int]] = deque()
        posted = 0
        for _ in order:
            while posted < len(order) and len(pending) < self.window:
                if steps[order[posted][0]].reduce and not self.direct and not self.free:
                    break
                pending.append(self.receive(*order[posted]))
                posted += 1
            t, k, request, buffer = pending.popleft()
            request.Wait()
            if buffer != _NO_REDUCE:
                assert reducer is not None
                start, stop = self.span(steps[t].recv, k)
                result = self.dst[start:stop]
                if buffer == _DIRECT:
                    reducer.reduce_into(result, self.src[start:stop], result)
                else:
                    incoming = self.buffers[buffer][: stop - start]
                    reducer.reduce_into(result, self.src[start:stop], incoming)
                    self.free.append(buffer)
            if t + 1 < len(steps):
                self.send(t + 1, k, self.dst)
        self.comm.waitall(self.sends)


def ring_reduce_scatter(
    comm: Communicator,
    src: npt.NDArray[Any],
    dst: npt.NDArray[Any],
    counts: list[int],
    reducer: Reducer,
    workspace: RingWorkspace,
) -> None:
    """Leave ``op`` over all ranks of segment ``comm.rank`` in ``dst``; ``src`` may be ``dst``.

    ``src`` and ``dst`` are flat, contiguous, ``sum(counts)`` long; other segments of ``dst``
    end up holding partial results.
    """
    if comm.size == 1:
        if dst is not src:
            np.copyto(dst, src)
        return
    steps = ring_steps(comm.rank, comm.size, scatter=True, gather=False)
    _RingPipeline(comm, (src, dst), counts, steps, workspace).run(reducer)


def ring_allgather(
    comm: Communicator, dst: npt.NDArray[Any], counts: list[int], workspace: RingWorkspace
) -> None:
    """Fill every segment of ``dst`` from its owner; segment ``comm.rank`` is already there."""
    if comm.size == 1:
        return
    steps = ring_steps(comm.rank, comm.size, scatter=False, gather=True)
    _RingPipeline(comm, (dst, dst), counts, steps, workspace).run(None)


def ring_allreduce(
    comm: Communicator,
    src: npt.NDArray[Any],
    dst: npt.NDArray[Any],
    reducer: Reducer,
    workspace: RingWorkspace,
) -> None:
    """``dst = op(src over all ranks)`` (no averaging or scaling; callers apply those)."""
    if comm.size == 1:
        if dst is not src:
            np.copyto(dst, src)
        return
    counts = even_counts(dst.size, comm.size)
    steps = ring_steps(comm.rank, comm.size, scatter=True, gather=True)
    _RingPipeline(comm, (src, dst), counts, steps, workspace).run(reducer)
