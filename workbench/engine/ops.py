"""The public collective API (Horovod-like): ``init()``, then collectives on numpy arrays.

    import workbench.engine as wb
    wb.init()                                   # MPI.COMM_WORLD, topology from the env
    total = wb.allreduce(grad, op="sum")        # blocking
    handle = wb.allreduce_async(grad, name="w") # queued, fused with its neighbours
    mean = wb.synchronize(handle)

Every rank must call collectives in the same order with the same names, dtypes and shapes;
mismatches raise ``CollectiveMismatchError`` on every rank. Async ops run on one background
thread (see ``background.py``); synchronous ops first wait for this rank's queued ones.
Call the engine from one thread.

Every collective takes ``process_set=`` (default: the global process set, the whole world);
``add_process_set`` makes new ones (see ``process_sets.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from workbench.engine.background import Handle
from workbench.engine.comm import Communicator, MPICommunicator
from workbench.engine.engine import Engine
from workbench.engine.errors import EngineNotInitializedError, InvalidProcessSetError
from workbench.engine.process_sets import (
    Member,
    ProcessSet,
    create_member,
    ranks_problem,
    release_member,
)
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import Kind, Request, allreduce_options

_engine: Engine | None = None
_control: Communicator | None = None  # only process-set management talks on it
_sets: dict[int, ProcessSet] = {}
_next_set_id = 1

global_process_set = ProcessSet([])  # its ranks are the world's once init() ran
global_process_set.process_set_id = 0


def init(
    comm: Communicator | None = None,
    *,
    topology: str | None = None,
    check_calls: bool | None = None,
    process_sets: Sequence[ProcessSet | Sequence[int]] | None = None,
) -> Engine:
    """Start the engine (idempotent): ``comm`` defaults to a copy of ``MPI.COMM_WORLD``;
    ``process_sets`` are registered at once (as ``add_process_set`` on every rank)."""
    global _engine, _control
    if _engine is None:
        world = comm if comm is not None else MPICommunicator()
        engine = Engine(world, topology=topology, check_calls=check_calls)
        _control = world.split(0, world.rank)
        _engine = engine
        global_process_set.ranks = list(range(engine.size))
        global_process_set.attach(0, engine.rank, Member(engine, owns_comm=False))
        _sets[0] = global_process_set
        for process_set in process_sets or ():
            add_process_set(process_set)
    return _engine


def shutdown() -> None:
    """Finish queued async ops and drop the engine; ``init()`` may be called again."""
    global _engine, _control, _next_set_id
    if _engine is None:
        return
    for set_id in sorted(_sets, reverse=True):  # the global set last
        process_set = _sets.pop(set_id)
        if process_set.member is not None:
            process_set.member.close()
        process_set.detach()
    global_process_set.process_set_id = 0
    if _engine.timeline is not None:
        _engine.timeline.close()
    if _control is not None:
        _control.free()
    _engine, _control, _next_set_id = None, None, 1


def is_initialized() -> bool:
    return _engine is not None


def current() -> Engine:
    """The engine ``init()`` started (the global process set's)."""
    if _engine is None:
        raise EngineNotInitializedError(
            "call workbench.engine.init() before any collective (and after shutdown())"
        )
    return _engine


def _member(process_set: ProcessSet | None) -> Member:
    """This rank's side of ``process_set``; a clear error when it is not in it."""
    current()
    ps = global_process_set if process_set is None else process_set
    if not isinstance(ps, ProcessSet):
        raise InvalidProcessSetError(f"process_set must be a ProcessSet, got {type(ps).__name__}")
    if ps.process_set_id is None or _sets.get(ps.process_set_id) is not ps:
        raise InvalidProcessSetError(
            f"{ps!r} is not registered: call add_process_set() on every rank first"
        )
    if ps.member is None:
        raise InvalidProcessSetError(
            f"rank {current().rank} is not in {ps!r}: only its members call its collectives"
        )
    return ps.member


def add_process_set(process_set: ProcessSet | Sequence[int]) -> ProcessSet:
    """Register a process set (collective: every rank calls it with the same ranks; when
    one rank finds a problem, every rank raises it)."""
    global _next_set_id
    engine = current()
    ps = process_set if isinstance(process_set, ProcessSet) else ProcessSet(process_set)
    problem = ranks_problem(ps.ranks, engine.size)
    same = [s for s in _sets.values() if s.ranks == ps.ranks]
    if ps.process_set_id is not None:
        problem = f"{ps!r} is already registered"
    elif same:
        problem = f"a process set with ranks {ps.ranks} exists already: {same[0]!r}"
    assert _control is not None
    member = create_member(_control, engine, ps.ranks, problem)
    ps.attach(_next_set_id, engine.rank, member)
    _sets[_next_set_id] = ps
    _next_set_id += 1
    return ps


def remove_process_set(process_set: ProcessSet) -> bool:
    """Unregister a process set (collective); False if it was not registered."""
    current()
    if process_set is global_process_set:
        raise InvalidProcessSetError("the global process set cannot be removed")
    set_id = process_set.process_set_id
    if set_id is None or _sets.get(set_id) is not process_set:
        return False
    assert _control is not None
    release_member(_control, process_set)
    del _sets[set_id]
    return True


def process_sets() -> list[ProcessSet]:
    """The registered process sets, the global one first."""
    return [_sets[k] for k in sorted(_sets)]


def rank() -> int:
    return current().rank


def size() -> int:
    return current().size


def local_rank() -> int:
    return current().comm.local_rank


def local_size() -> int:
    return current().comm.local_size


def cross_rank() -> int:
    return current().comm.cross_rank


def cross_size() -> int:
    return current().comm.cross_size


def last_bytes_sent() -> int:
    """Payload bytes this rank sent in its latest collective."""
    return current().last_bytes_sent


def record_events(
    events: Iterable[dict[str, Any]], origin: float | None = None, thread: str | None = None
) -> int:
    """Add events to the running engine's timeline; returns how many (0 when it is off).

    Tensor swapping: ``record_events(stats.chrome_trace(), stats.origin, "tensor swapping")``.
    """
    timeline = _engine.timeline if _engine is not None else None
    return 0 if timeline is None else timeline.add_events(events, origin, thread)


def submit(request: Request, process_set: ProcessSet | None = None) -> Handle:
    """Queue a typed request on ``process_set``'s thread (the adapters' way in)."""
    return _member(process_set).submit(request)


def allreduce(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    out: Any = None,
    bfloat16_bits: bool = False,
    process_set: ProcessSet | None = None,
) -> Any:
    options = allreduce_options(op, prescale_factor, postscale_factor, bfloat16_bits)
    return _member(process_set).drained().allreduce(array, options, name=name, out=out)


def allreduce_async(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    bfloat16_bits: bool = False,
    process_set: ProcessSet | None = None,
) -> Handle:
    """Queue an allreduce; compatible queued allreduces are fused. Keep ``array`` unchanged
    until the handle is done."""
    options = allreduce_options(op, prescale_factor, postscale_factor, bfloat16_bits)
    return submit(Request(Kind.ALLREDUCE, name, [array], options), process_set)


def grouped_allreduce(
    arrays: Sequence[Any],
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    bfloat16_bits: bool = False,
    process_set: ProcessSet | None = None,
) -> list[Any]:
    options = allreduce_options(op, prescale_factor, postscale_factor, bfloat16_bits)
    return _member(process_set).drained().grouped_allreduce(arrays, options, name=name)


def grouped_allreduce_async(
    arrays: Sequence[Any],
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    bfloat16_bits: bool = False,
    process_set: ProcessSet | None = None,
) -> Handle:
    options = allreduce_options(op, prescale_factor, postscale_factor, bfloat16_bits)
    return submit(Request(Kind.GROUPED_ALLREDUCE, name, list(arrays), options), process_set)


def allgather(array: Any, *, name: str | None = None, process_set: ProcessSet | None = None) -> Any:
    return _member(process_set).drained().allgather(array, name=name)


def allgather_async(
    array: Any, *, name: str | None = None, process_set: ProcessSet | None = None
) -> Handle:
    return submit(Request(Kind.ALLGATHER, name, [array]), process_set)


def allgatherv(
    array: Any, *, name: str | None = None, process_set: ProcessSet | None = None
) -> list[Any]:
    return _member(process_set).drained().allgatherv(array, name=name)


def allgatherv_async(
    array: Any, *, name: str | None = None, process_set: ProcessSet | None = None
) -> Handle:
    """Queue an allgather whose result is every rank's piece, by rank."""
    return submit(Request(Kind.ALLGATHERV, name, [array]), process_set)


def broadcast(
    array: Any,
    root: int = 0,
    *,
    name: str | None = None,
    out: Any = None,
    process_set: ProcessSet | None = None,
) -> Any:
    """``root``'s ``array`` on every rank of ``process_set`` (``root`` is a world rank, as in
    Horovod, and must be in the set)."""
    member = _member(process_set)
    local = _root_in(process_set, root)
    return member.drained().broadcast(array, local, name=name, out=out)


def broadcast_async(
    array: Any, root: int = 0, *, name: str | None = None, process_set: ProcessSet | None = None
) -> Handle:
    member = _member(process_set)
    return member.submit(Request(Kind.BROADCAST, name, [array], root=_root_in(process_set, root)))


def _root_in(process_set: ProcessSet | None, root: int) -> int:
    """A world rank as its index in ``process_set`` (the set's engine counts from 0)."""
    if process_set is None or process_set is global_process_set:
        return root
    if root not in process_set.ranks:
        raise InvalidProcessSetError(
            f"root rank {root} is not in {process_set!r}: broadcast from one of its ranks"
        )
    return process_set.ranks.index(root)


def reducescatter(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    splits: Sequence[int] | None = None,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet | None = None,
) -> Any:
    options = allreduce_options(op, prescale_factor, postscale_factor)
    engine = _member(process_set).drained()
    return engine.reducescatter(array, options, splits=splits, name=name)


def reducescatter_async(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    splits: Sequence[int] | None = None,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet | None = None,
) -> Handle:
    options = allreduce_options(op, prescale_factor, postscale_factor)
    request = Request(Kind.REDUCESCATTER, name, [array], options, splits=splits)
    return submit(request, process_set)


def alltoall(
    array: Any,
    splits: Sequence[int] | None = None,
    *,
    name: str | None = None,
    process_set: ProcessSet | None = None,
) -> tuple[Any, list[int]]:
    return _member(process_set).drained().alltoall(array, splits, name=name)


def alltoall_async(
    array: Any,
    splits: Sequence[int] | None = None,
    *,
    name: str | None = None,
    process_set: ProcessSet | None = None,
) -> Handle:
    return submit(Request(Kind.ALLTOALL, name, [array], splits=splits), process_set)


def barrier(*, process_set: ProcessSet | None = None) -> None:
    _member(process_set).drained().barrier()


def barrier_async(*, process_set: ProcessSet | None = None) -> Handle:
    return submit(Request(Kind.BARRIER), process_set)


def join(*, process_set: ProcessSet | None = None) -> int:
    """This rank has no more data: block until every rank of ``process_set`` has joined;
    returns the rank that joined last (the same on every rank).

    Meanwhile the other ranks' queued allreduces (Sum/Average: this rank adds zeros, Average
    still divides by the full size), grouped allreduces, broadcasts (from a rank that has
    not joined; this rank discards the data) and allgathers (this rank adds no rows) go on;
    other collectives raise ``JoinError`` on every rank. They must be queued through the
    async API (``*_async``; the torch and Keras adapters queue every collective): a
    synchronous numpy call here cannot meet a joined rank and raises a mismatch.
    """
    return _member(process_set).join()


def synchronize(handle: Handle, timeout: float | None = None) -> Any:
    """Wait for an async collective and return its result (re-raising its error)."""
    return handle.wait(timeout)


def poll(handle: Handle) -> bool:
    """True once an async collective finished."""
    return handle.poll()
