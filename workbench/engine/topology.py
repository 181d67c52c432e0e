"""Which rings an allreduce runs on: flat, hierarchical, an X x Y grid, or shared memory.

A multi-dimensional ring allreduce (PowerAI DDL's layout) over dimensions ``d0 x d1 x ...``:
reduce-scatter along the innermost ring, allreduce the resulting shard recursively over the
remaining dimensions, allgather along the innermost ring. The hierarchical layout is the
two-dimensional case with the node's ranks as the inner ring and one rank per node as the
outer one, so only ``1/local_size`` of the buffer crosses nodes.

``WORKBENCH_TOPOLOGY`` picks the layout: ``auto`` (default), ``flat``, ``hierarchical``,
``shm`` (one node, shared-memory window) or a grid such as ``2x2`` / ``2x2x2`` (outermost
first: ``AxB`` is ``A`` groups of ``B`` consecutive ranks). ``WORKBENCH_VIRTUAL_NODES``
(see ``comm.py``) splits one machine's ranks into fake nodes for ``hierarchical``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from workbench.engine.comm import Communicator
from workbench.engine.errors import TopologyError
from workbench.engine.reduce_ops import Reducer
from workbench.engine.ring import (
    RingWorkspace,
    even_counts,
    offsets_of,
    ring_allgather,
    ring_allreduce,
    ring_reduce_scatter,
)
from workbench.engine.shm import ShmAllreduce

TOPOLOGY_ENV = "WORKBENCH_TOPOLOGY"
LAYOUTS = ("auto", "flat", "hierarchical", "shm")


class AllreduceAlgorithm(Protocol):
    """``dst = op(src over all ranks)`` on flat contiguous buffers (``src`` may be ``dst``)."""

    name: str

    def allreduce(self, src: npt.NDArray[Any], dst: npt.NDArray[Any], reducer: Reducer) -> None: ...

    def bytes_sent(self) -> int:
        """Payload bytes this rank has sent (or published to peers) with this algorithm."""
        ...

    def allocate(self, nbytes: int) -> npt.NDArray[np.uint8]:
        """Collective: a buffer this algorithm reduces without copying it in first."""
        ...

    def placement(self, src: npt.NDArray[Any], dst: npt.NDArray[Any]) -> int:
        """Byte offset of an in-place ``dst`` inside an ``allocate``d buffer, else -1.

        Ranks must agree on it (it picks the algorithm), so it goes into the call check.
        """
        ...


@dataclass(frozen=True)
class TopologyPlan:
    """``kind`` plus ring sizes, outermost first (``(nodes, local)`` for hierarchical)."""

    kind: str
    dims: tuple[int, ...]


def parse_grid(value: str, size: int) -> tuple[int, ...]:
    try:
        dims = tuple(int(part) for part in value.lower().split("x"))
    except ValueError:
        raise TopologyError(f"{TOPOLOGY_ENV}={value!r}: expected one of {LAYOUTS} or AxB") from None
    if any(d < 1 for d in dims) or math.prod(dims) != size:
        raise TopologyError(
            f"{TOPOLOGY_ENV}={value!r}: the grid's product must equal the {size} ranks launched"
        )
    return dims


def plan_topology(comm: Communicator, requested: str | None = None) -> TopologyPlan:
    """The layout for ``comm``: ``requested``, else ``$WORKBENCH_TOPOLOGY``, else ``auto``."""
    value = (requested or os.environ.get(TOPOLOGY_ENV, "") or "auto").strip().lower()
    layout = comm.layout
    nodes = (layout.cross_size, layout.local_size)
    if value == "flat" or comm.size == 1:
        return TopologyPlan("flat", (comm.size,))
    if value == "shm":
        if layout.cross_size != 1:
            raise TopologyError(
                f"{TOPOLOGY_ENV}=shm needs all {comm.size} ranks on one node, they span "
                f"{layout.cross_size}; use hierarchical"
            )
        return TopologyPlan("shm", (comm.size,))
    if value in ("hierarchical", "auto"):
        if layout.cross_size > 1 and layout.local_size > 1 and layout.uniform:
            return TopologyPlan("hierarchical", nodes)
        if value == "hierarchical" and not layout.uniform:
            raise TopologyError(
                "hierarchical allreduce needs the same number of ranks on every node; "
                f"set {TOPOLOGY_ENV}=flat or launch equal ranks per node"
            )
        return TopologyPlan("flat", (comm.size,))
    return TopologyPlan("grid", parse_grid(value, comm.size))


def grid_comms(comm: Communicator, dims: tuple[int, ...]) -> list[Communicator]:
    """One communicator per grid dimension, innermost (last, consecutive ranks) first."""
    comms: list[Communicator] = []
    stride = 1
    for dim in reversed(dims):
        coordinate = (comm.rank // stride) % dim
        color = comm.rank - coordinate * stride  # same for ranks differing only here
        if dim > 1:
            comms.append(comm.split(color, coordinate))
        stride *= dim
    return comms


class MultiRingAllreduce:
    """Allreduce over nested rings (flat = one ring; hierarchical and grids = several)."""

    def __init__(self, name: str, comms: list[Communicator], workspace: RingWorkspace) -> None:
        self.name = name
        self.comms = comms
        self.workspace = workspace

    def allreduce(self, src: npt.NDArray[Any], dst: npt.NDArray[Any], reducer: Reducer) -> None:
        if not self.comms:
            if dst is not src:
                dst[...] = src
            return
        self._nested(0, src, dst, reducer)

    def _nested(
        self, level: int, src: npt.NDArray[Any], dst: npt.NDArray[Any], reducer: Reducer
    ) -> None:
        comm = self.comms[level]
        if level == len(self.comms) - 1:
            ring_allreduce(comm, src, dst, reducer, self.workspace)
            return
        counts = even_counts(dst.size, comm.size)
        ring_reduce_scatter(comm, src, dst, counts, reducer, self.workspace)
        offsets = offsets_of(counts)
        shard = dst[offsets[comm.rank] : offsets[comm.rank + 1]]
        self._nested(level + 1, shard, shard, reducer)
        ring_allgather(comm, dst, counts, self.workspace)

    def bytes_sent(self) -> int:
        return sum(comm.bytes_sent for comm in self.comms)

    def allocate(self, nbytes: int) -> npt.NDArray[np.uint8]:
        return np.empty(nbytes, dtype=np.uint8)

    def placement(self, src: npt.NDArray[Any], dst: npt.NDArray[Any]) -> int:
        return -1


class ShmNodeAllreduce:
    """One node: arrays in shared blocks are reduced in place there, others take the ring.

    The fusion buffer and ``Engine.shared_array`` hand out shared blocks, so fused and
    shared-array allreduces skip the MPI transport; a copy-in shared-memory path for other
    arrays measured slower than the ring, so they use the ring.
    """

    name = "shm"

    def __init__(self, comm: Communicator, workspace: RingWorkspace) -> None:
        self.shm = ShmAllreduce(comm)
        self.ring = MultiRingAllreduce("flat", [comm], workspace)

    def allreduce(self, src: npt.NDArray[Any], dst: npt.NDArray[Any], reducer: Reducer) -> None:
        found = self.shm.locate(dst) if src is dst else None
        if found is None:
            self.ring.allreduce(src, dst, reducer)
        else:
            self.shm.allreduce(found[0], found[1], dst.size, dst.dtype, reducer)

    def bytes_sent(self) -> int:
        return self.ring.bytes_sent()  # the shared-memory path sends nothing

    def allocate(self, nbytes: int) -> npt.NDArray[np.uint8]:
        return self.shm.allocate_block(nbytes).mine[:nbytes]

    def placement(self, src: npt.NDArray[Any], dst: npt.NDArray[Any]) -> int:
        found = self.shm.locate(dst) if src is dst else None
        return -1 if found is None else found[1]


def build_allreduce(
    comm: Communicator, plan: TopologyPlan, workspace: RingWorkspace
) -> AllreduceAlgorithm:
    """Collective: the sub-communicators and buffers ``plan`` needs."""
    if plan.kind == "shm":
        return ShmNodeAllreduce(comm, workspace)
    if plan.kind == "flat":
        return MultiRingAllreduce("flat", [comm] if comm.size > 1 else [], workspace)
    if plan.kind == "hierarchical":
        inner, outer = comm.local_comm(), comm.cross_comm()
        rings = [c for c in (inner, outer) if c.size > 1]
        return MultiRingAllreduce("hierarchical", rings, workspace)
    return MultiRingAllreduce(
        f"grid {'x'.join(map(str, plan.dims))}", grid_comms(comm, plan.dims), workspace
    )
