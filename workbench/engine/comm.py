"""Communicators: the point-to-point surface the ring algorithms run on.

``Communicator`` is the abstract surface (rank/size, nonblocking send/receive, a few small
metadata collectives, ``split``, node layout, shared memory). ``MPICommunicator`` implements it
over mpi4py; ``thread_comm.ThreadCommunicator`` implements it for N threads of one process so
ring logic is testable without ``mpiexec``.

All payloads travel as raw bytes (``MPI.BYTE``): bfloat16 is a ``uint16`` payload and float16
needs no MPI datatype, so every dtype goes through one code path.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from workbench.engine.errors import EngineError, TopologyError

VIRTUAL_NODES_ENV = "WORKBENCH_VIRTUAL_NODES"
_NATIVE_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64)}
_NATIVE_OPS = {"sum": "SUM", "min": "MIN", "max": "MAX", "product": "PROD"}


class Request(Protocol):
    """A pending nonblocking send or receive (``mpi4py.MPI.Request`` fits)."""

    def Wait(self) -> object: ...

    def Test(self) -> bool: ...


class SharedArena(Protocol):
    """One byte region per rank of a node, all mapped into every rank's address space."""

    def region(self, rank: int) -> npt.NDArray[np.uint8]: ...

    def fence(self) -> None:
        """Memory barrier: stores before it are visible to peers that fence after seeing them."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class NodeLayout:
    """Where a rank sits: which node, its index on that node, and the node sizes."""

    node: int
    local_rank: int
    local_size: int
    cross_rank: int  # == node index
    cross_size: int  # number of nodes
    uniform: bool  # every node has the same number of ranks


class Communicator(ABC):
    """Point-to-point plus small metadata collectives over a fixed group of ranks."""

    rank: int
    size: int

    def __init__(self) -> None:
        self.bytes_sent = 0  # payload bytes this rank handed to isend/sendrecv, ever
        self._layout: NodeLayout | None = None
        self._local: Communicator | None = None
        self._cross: Communicator | None = None

    # -- point to point ------------------------------------------------------------------
    @abstractmethod
    def isend(self, buf: npt.NDArray[Any], dest: int, tag: int) -> Request:
        """Start sending ``buf`` (contiguous); it must stay untouched until the request ends."""

    @abstractmethod
    def irecv(self, buf: npt.NDArray[Any], source: int, tag: int) -> Request:
        """Start receiving exactly ``buf.nbytes`` bytes into ``buf`` (contiguous)."""

    @abstractmethod
    def waitall(self, requests: Sequence[Request]) -> None: ...

    def sendrecv(
        self,
        sendbuf: npt.NDArray[Any],
        dest: int,
        recvbuf: npt.NDArray[Any],
        source: int,
        tag: int,
    ) -> None:
        recv = self.irecv(recvbuf, source, tag)
        send = self.isend(sendbuf, dest, tag)
        self.waitall([recv, send])

    # -- small collectives (metadata, not payload) -----------------------------------------
    @abstractmethod
    def barrier(self) -> None: ...

    @abstractmethod
    def allgather_int64(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Every rank's fixed-length int64 vector, stacked as ``(size, len(values))``."""

    def allgather_int64_into(
        self, values: npt.NDArray[np.int64], out: npt.NDArray[np.int64]
    ) -> None:
        """``allgather_int64`` into ``out`` (``(size, len(values))``, contiguous)."""
        out[...] = self.allgather_int64(values)

    @abstractmethod
    def allgather_object(self, obj: object) -> list[Any]:
        """Every rank's picklable object, by rank (slow path: errors, setup)."""

    @abstractmethod
    def split(self, color: int, key: int) -> Communicator:
        """Collective: a communicator of the ranks that passed the same ``color``."""

    @abstractmethod
    def node_key(self) -> str:
        """Identifies this rank's shared-memory node; equal keys share memory."""

    @abstractmethod
    def allocate_shared(self, nbytes: int) -> SharedArena:
        """Collective over a single-node communicator: ``nbytes`` of shared memory per rank."""

    def supports_threads(self) -> bool:
        """Whether calls may come from a thread other than the one that initialised it."""
        return True

    def free(self) -> None:  # noqa: B027 (most transports hold nothing to release)
        """Release what the transport holds for this communicator (collective)."""

    def concurrent_communicators(self) -> bool:
        """Whether threads may be inside calls on different communicators at once."""
        return True

    def adopt_layout(self, node: int) -> None:
        """Collective: take the node layout from a parent communicator, where this rank sits
        on node ``node`` (a sub-communicator's ranks keep the nodes they are on)."""
        nodes = [int(n) for n in self.allgather_object(int(node))]
        peers = [r for r in range(self.size) if nodes[r] == node]
        distinct = sorted(set(nodes))
        counts = [nodes.count(n) for n in distinct]
        self._layout = NodeLayout(
            node=distinct.index(node),
            local_rank=peers.index(self.rank),
            local_size=len(peers),
            cross_rank=distinct.index(node),
            cross_size=len(distinct),
            uniform=len(set(counts)) == 1,
        )

    def has_native_allreduce(self, dtype: np.dtype[Any], op: str) -> bool:
        """Whether the transport has its own allreduce for ``dtype`` and ``op`` (``sum``,
        ``min``, ``max``, ``product``): small payloads use it, since one latency-optimised
        call beats the ring's 2(N-1) steps there."""
        return False

    def allreduce_native(self, buf: npt.NDArray[Any], op: str) -> None:
        """Reduce contiguous ``buf`` in place with the transport's own allreduce (its bytes
        are not counted in ``bytes_sent``)."""
        raise EngineError("this communicator has no native allreduce")

    # -- node layout -----------------------------------------------------------------------
    @property
    def layout(self) -> NodeLayout:
        if self._layout is None:
            self._layout = self._compute_layout()
        return self._layout

    @property
    def local_rank(self) -> int:
        return self.layout.local_rank

    @property
    def local_size(self) -> int:
        return self.layout.local_size

    @property
    def cross_rank(self) -> int:
        return self.layout.cross_rank

    @property
    def cross_size(self) -> int:
        return self.layout.cross_size

    def local_comm(self) -> Communicator:
        """Collective: the ranks on this rank's (possibly virtual) node."""
        if self._local is None:
            self._local = self.split(self.layout.node, self.rank)
        return self._local

    def cross_comm(self) -> Communicator:
        """Collective: one rank per node, those with this rank's ``local_rank``."""
        if self._cross is None:
            self._cross = self.split(self.layout.local_rank, self.layout.node)
        return self._cross

    def _compute_layout(self) -> NodeLayout:
        virtual = os.environ.get(VIRTUAL_NODES_ENV, "").strip()
        if virtual:
            nodes = _virtual_node_of_ranks(virtual, self.size)
        else:
            keys = self.allgather_object(self.node_key())
            first_seen: dict[str, int] = {}
            nodes = [first_seen.setdefault(k, len(first_seen)) for k in keys]
        node = nodes[self.rank]
        peers = [r for r in range(self.size) if nodes[r] == node]
        counts = [nodes.count(n) for n in range(max(nodes) + 1)]
        return NodeLayout(
            node=node,
            local_rank=peers.index(self.rank),
            local_size=len(peers),
            cross_rank=node,
            cross_size=len(counts),
            uniform=len(set(counts)) == 1,
        )


def _virtual_node_of_ranks(value: str, size: int) -> list[int]:
    try:
        count = int(value)
    except ValueError:
        raise TopologyError(f"{VIRTUAL_NODES_ENV}={value!r} is not an integer") from None
    if count < 1 or size % count:
        raise TopologyError(
            f"{VIRTUAL_NODES_ENV}={count} must be >= 1 and divide the {size} ranks launched"
        )
    per_node = size // count
    return [r // per_node for r in range(size)]


def import_mpi() -> ModuleType:
    """``mpi4py.MPI``, initialising MPI at ``THREAD_MULTIPLE`` if nobody did yet.

    Each engine's lock makes its own MPI calls exclusive (the caller's thread for
    synchronous ops, its background thread for async ones); process sets run one engine
    each, whose threads may be in MPI at the same time on different communicators, which
    needs ``THREAD_MULTIPLE`` (measured: no slower than ``SERIALIZED`` for a 4 KiB
    ``Allreduce`` with Open MPI 5 on this machine).

    With more Open MPI ranks on this machine than cores it also defaults
    ``OMPI_MCA_mpi_yield_when_idle=1`` (unless set): a rank busy-polling in a wait would
    otherwise burn the time slice of the peer it waits for (measured 2-3x slower at 4 ranks
    on 2 cores).
    """
    if "mpi4py.MPI" not in sys.modules:
        import mpi4py

        mpi4py.rc.thread_level = "multiple"
        local_ranks = int(os.environ.get("OMPI_COMM_WORLD_LOCAL_SIZE", "0"))
        if local_ranks > len(os.sched_getaffinity(0)):
            os.environ.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    from mpi4py import MPI

    return MPI


class MPICommunicator(Communicator):
    """A communicator over an mpi4py intracommunicator (a private ``Dup`` of it)."""

    def __init__(self, comm: Any = None, *, dup: bool = True) -> None:
        super().__init__()
        self._mpi = import_mpi()
        base = self._mpi.COMM_WORLD if comm is None else comm
        self._comm = base.Dup() if dup else base
        self.rank = int(self._comm.Get_rank())
        self.size = int(self._comm.Get_size())
        self._node_key: str | None = None

    @property
    def mpi_comm(self) -> Any:
        return self._comm

    def supports_threads(self) -> bool:
        return bool(self._mpi.Query_thread() >= self._mpi.THREAD_SERIALIZED)

    def concurrent_communicators(self) -> bool:
        return bool(self._mpi.Query_thread() >= self._mpi.THREAD_MULTIPLE)

    def has_native_allreduce(self, dtype: np.dtype[Any], op: str) -> bool:
        return dtype in _NATIVE_DTYPES and op in _NATIVE_OPS

    def allreduce_native(self, buf: npt.NDArray[Any], op: str) -> None:
        mpi_op = getattr(self._mpi, _NATIVE_OPS[op])
        self._comm.Allreduce(self._mpi.IN_PLACE, buf, op=mpi_op)

    def isend(self, buf: npt.NDArray[Any], dest: int, tag: int) -> Request:
        self.bytes_sent += buf.nbytes
        req: Request = self._comm.Isend([buf, self._mpi.BYTE], dest, tag)
        return req

    def irecv(self, buf: npt.NDArray[Any], source: int, tag: int) -> Request:
        req: Request = self._comm.Irecv([buf, self._mpi.BYTE], source, tag)
        return req

    def waitall(self, requests: Sequence[Request]) -> None:
        if requests:
            self._mpi.Request.Waitall(list(requests))

    def sendrecv(
        self,
        sendbuf: npt.NDArray[Any],
        dest: int,
        recvbuf: npt.NDArray[Any],
        source: int,
        tag: int,
    ) -> None:
        self.bytes_sent += sendbuf.nbytes
        byte = self._mpi.BYTE
        self._comm.Sendrecv([sendbuf, byte], dest, tag, [recvbuf, byte], source, tag)

    def barrier(self) -> None:
        self._comm.Barrier()

    def allgather_int64(self, values: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        mine = np.ascontiguousarray(values, dtype=np.int64)
        out = np.empty((self.size, mine.size), dtype=np.int64)
        self._comm.Allgather(mine, out)
        return out

    def allgather_int64_into(
        self, values: npt.NDArray[np.int64], out: npt.NDArray[np.int64]
    ) -> None:
        self._comm.Allgather(values, out)

    def allgather_object(self, obj: object) -> list[Any]:
        return list(self._comm.allgather(obj))

    def split(self, color: int, key: int) -> Communicator:
        return MPICommunicator(self._comm.Split(color, key), dup=False)

    def node_key(self) -> str:
        """The lowest world rank sharing memory with this one (host names can repeat)."""
        if self._node_key is None:
            shared = self._comm.Split_type(self._mpi.COMM_TYPE_SHARED, self.rank)
            world_rank = self._mpi.COMM_WORLD.Get_rank()
            self._node_key = f"shm-{shared.allreduce(world_rank, op=self._mpi.MIN)}"
            shared.Free()
        return self._node_key

    def allocate_shared(self, nbytes: int) -> SharedArena:
        keys = set(self.allgather_object(self.node_key()))
        if len(keys) != 1:
            raise EngineError(
                "shared-memory collectives need all ranks of the communicator on one node; "
                f"this one spans {len(keys)} nodes (use the hierarchical topology instead)"
            )
        return MPISharedArena(self._mpi, self._comm, nbytes)

    def free(self) -> None:
        """Release the MPI communicator (collective)."""
        if self._comm != self._mpi.COMM_NULL:
            self._comm.Free()


class MPISharedArena:
    """``MPI.Win.Allocate_shared`` regions, kept in one passive epoch for ``Win.Sync``."""

    def __init__(self, mpi: ModuleType, comm: Any, nbytes: int) -> None:
        self._mpi = mpi
        self._win = mpi.Win.Allocate_shared(max(nbytes, 8), 1, comm=comm)
        self._win.Lock_all(mpi.MODE_NOCHECK)
        self._regions: list[npt.NDArray[np.uint8]] = []
        for peer in range(comm.Get_size()):
            buf, _unit = self._win.Shared_query(peer)
            self._regions.append(np.frombuffer(buf, dtype=np.uint8)[:nbytes])

    def region(self, rank: int) -> npt.NDArray[np.uint8]:
        return self._regions[rank]

    def fence(self) -> None:
        self._win.Sync()

    def close(self) -> None:
        self._regions.clear()
        self._win.Unlock_all()
        self._win.Free()
