"""Process sets: subsets of the world's ranks that run collectives among themselves.

    evens = hvd.add_process_set([0, 2])          # every rank calls it, with the same ranks
    hvd.allreduce(x, process_set=evens)          # only ranks 0 and 2 call this one

Each set is its own communicator (split from a control communicator that only set
management uses), its own ``Engine`` (negotiation, auto names, ring, shared memory) and,
once it has async work, its own communication thread. A rank outside a set never takes part
in it, so it is never blocked by it; a mismatch or failure inside a set is raised on every
member of that set. Collectives of different sets may overlap on a rank (MPI runs at
``THREAD_MULTIPLE``). The world itself is the global process set, id 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.engine.background import AsyncExecutor, Handle
from workbench.engine.comm import Communicator
from workbench.engine.engine import Engine
from workbench.engine.errors import EngineError, InvalidProcessSetError
from workbench.engine.requests import Request


class Member:
    """This rank's side of a process set it belongs to: the engine and its thread."""

    def __init__(self, engine: Engine, *, owns_comm: bool) -> None:
        self.engine = engine
        self.executor: AsyncExecutor | None = None
        self._owns_comm = owns_comm

    def _started(self) -> AsyncExecutor:
        """The set's thread, started on its first async collective."""
        if self.executor is None:
            self.executor = AsyncExecutor(self.engine)
        return self.executor

    def submit(self, request: Request) -> Handle:
        return self._started().submit(request)  # submit refuses a failed engine

    def join(self) -> int:
        return self._started().join()

    def drained(self) -> Engine:
        """The engine, once this rank's queued async collectives ran (for a synchronous call
        that must come after them)."""
        if self.executor is not None:
            self.executor.drain()
        return self.engine

    def close(self) -> None:
        """Finish queued work and stop the thread; a set's own communicator is released."""
        if self.executor is not None:
            self.executor.stop()
            self.executor = None
        self.engine.close()
        if self._owns_comm:
            self.engine.comm.free()


class ProcessSet:
    """Ranks of the world (``ranks``, sorted) that run collectives among themselves.

    ``ProcessSet([0, 2])`` or ``ProcessSet(mpi_comm)`` (an mpi4py communicator over some of
    the world's ranks); register it with ``add_process_set`` (or ``init(process_sets=...)``)
    on every rank before use. ``size()``, ``rank()`` and ``included()`` answer ``None``
    until then.
    """

    def __init__(self, ranks_or_comm: Sequence[int] | Any) -> None:
        if hasattr(ranks_or_comm, "Get_group"):
            ranks = _world_ranks_of(ranks_or_comm)
        else:
            try:
                ranks = [_as_rank(r) for r in ranks_or_comm]
            except TypeError:
                raise InvalidProcessSetError(
                    "a process set is made of a list of ranks or an mpi4py communicator, "
                    f"got {type(ranks_or_comm).__name__}"
                ) from None
        if len(set(ranks)) != len(ranks):
            raise InvalidProcessSetError(f"process set ranks {ranks} name a rank twice")
        self.ranks: list[int] = sorted(ranks)
        self.process_set_id: int | None = None
        self.member: Member | None = None  # this rank's side, when it is in the set
        self._world_rank: int | None = None

    def attach(self, process_set_id: int, world_rank: int, member: Member | None) -> None:
        self.process_set_id, self._world_rank, self.member = process_set_id, world_rank, member

    def detach(self) -> None:
        self.process_set_id, self._world_rank, self.member = None, None, None

    def included(self) -> bool | None:
        """Whether this rank is in the set (None: not registered)."""
        if self._world_rank is None:
            return None
        return self._world_rank in self.ranks

    def size(self) -> int | None:
        return None if self._world_rank is None else len(self.ranks)

    def rank(self) -> int | None:
        """This rank's index in the set (None: not in it, or not registered)."""
        if not self.included():
            return None
        assert self._world_rank is not None
        return self.ranks.index(self._world_rank)

    def __repr__(self) -> str:
        return f"ProcessSet(process_set_id={self.process_set_id}, ranks={self.ranks})"


def _as_rank(value: Any) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise InvalidProcessSetError(f"process set ranks must be integers, got {value!r}")
    return int(value)


def _world_ranks_of(comm: Any) -> list[int]:
    from mpi4py import MPI  # only reached with an mpi4py communicator in hand

    group = comm.Get_group()
    ranks = group.Translate_ranks(list(range(group.Get_size())), MPI.COMM_WORLD.Get_group())
    group.Free()
    return [int(r) for r in ranks]


def ranks_problem(ranks: Sequence[int], world_size: int) -> str | None:
    """What is wrong with a new set's ranks on this rank, or None."""
    bad = [r for r in ranks if not 0 <= r < world_size]
    if bad:
        return f"process set ranks {bad} are not ranks of this {world_size}-rank world"
    if not ranks:
        return "a process set needs at least one rank"
    return None


def create_member(
    control: Communicator, world: Engine, ranks: Sequence[int], problem: str | None = None
) -> Member | None:
    """Collective over the whole world (``control``): every rank must pass the same ranks.

    Members get their set's engine on a new communicator; other ranks get None. When a
    rank passed other ranks, or found a ``problem`` with them, every rank raises the same
    error, naming what each passed.
    """
    asked = control.allgather_object((list(ranks), problem))
    problems = [p for _, p in asked if p]
    if problems or any(a[0] != asked[0][0] for a in asked):
        lines = "\n".join(f"  rank {r}: {a}" for r, (a, _) in enumerate(asked))
        why = problems[0] if problems else "every rank must pass the same ranks"
        raise InvalidProcessSetError(
            f"add_process_set failed: {why} (every rank raises this error):\n{lines}"
        )
    if not control.concurrent_communicators():
        raise EngineError(
            "process sets need MPI initialised at MPI_THREAD_MULTIPLE (each set's thread "
            "talks MPI on its own communicator): import workbench.engine before mpi4py.MPI, "
            "or set mpi4py.rc.thread_level = 'multiple'"
        )
    member = world.rank in ranks
    comm = control.split(0 if member else 1, world.rank)
    if not member:
        comm.free()
        return None
    comm.adopt_layout(world.comm.layout.node)
    engine = Engine(comm, timeline=world.timeline, check_calls=world.check_calls, world_ranks=ranks)
    return Member(engine, owns_comm=True)


def release_member(control: Communicator, process_set: ProcessSet) -> None:
    """Collective over the whole world: every rank removes the same set."""
    asked = control.allgather_object(process_set.process_set_id)
    if any(a != asked[0] for a in asked):
        raise EngineError(
            f"remove_process_set must be called on every rank for the same set; "
            f"ids by rank: {asked}"
        )
    if process_set.member is not None:
        process_set.member.close()
    process_set.detach()
