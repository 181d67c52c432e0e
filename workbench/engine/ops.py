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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.engine import background
from workbench.engine.background import Handle
from workbench.engine.comm import Communicator
from workbench.engine.engine import Engine
from workbench.engine.errors import EngineNotInitializedError
from workbench.engine.reduce_ops import ReduceOp

_engine: Engine | None = None


def init(
    comm: Communicator | None = None,
    *,
    topology: str | None = None,
    check_calls: bool | None = None,
) -> Engine:
    """Start the engine (idempotent): ``comm`` defaults to a copy of ``MPI.COMM_WORLD``."""
    global _engine
    if _engine is None:
        _engine = Engine(comm, topology=topology, check_calls=check_calls)
    return _engine


def shutdown() -> None:
    """Finish queued async ops and drop the engine; ``init()`` may be called again."""
    global _engine
    if _engine is not None and isinstance(_engine.executor, background.AsyncExecutor):
        _engine.executor.stop()
    if _engine is not None and _engine.timeline is not None:
        _engine.timeline.close()
    if _engine is not None:
        _engine.watchdog.stop()
    _engine = None


def is_initialized() -> bool:
    return _engine is not None


def current() -> Engine:
    """The engine ``init()`` started."""
    if _engine is None:
        raise EngineNotInitializedError(
            "call workbench.engine.init() before any collective (and after shutdown())"
        )
    return _engine


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


def allreduce(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    out: Any = None,
    bfloat16_bits: bool = False,
) -> Any:
    return current().allreduce(
        array,
        op=op,
        name=name,
        prescale_factor=prescale_factor,
        postscale_factor=postscale_factor,
        out=out,
        bfloat16_bits=bfloat16_bits,
    )


def allreduce_async(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    bfloat16_bits: bool = False,
) -> Handle:
    return background.allreduce_async(
        current(),
        array,
        op=op,
        name=name,
        prescale_factor=prescale_factor,
        postscale_factor=postscale_factor,
        bfloat16_bits=bfloat16_bits,
    )


def grouped_allreduce(
    arrays: Sequence[Any], op: ReduceOp | str = ReduceOp.SUM, *, name: str | None = None
) -> list[Any]:
    return current().grouped_allreduce(arrays, op=op, name=name)


def grouped_allreduce_async(
    arrays: Sequence[Any],
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    name: str | None = None,
    bfloat16_bits: bool = False,
) -> Handle:
    engine = current()

    def call(resolved: str) -> list[Any]:
        return engine.grouped_allreduce(arrays, op=op, name=resolved, bfloat16_bits=bfloat16_bits)

    return background.submit_call(engine, "grouped_allreduce", name, call)


def allgather(array: Any, *, name: str | None = None) -> Any:
    return current().allgather(array, name=name)


def allgather_async(array: Any, *, name: str | None = None) -> Handle:
    engine = current()
    return background.submit_call(
        engine, "allgather", name, lambda n: engine.allgather(array, name=n)
    )


def allgatherv(array: Any, *, name: str | None = None) -> list[Any]:
    return current().allgatherv(array, name=name)


def broadcast(array: Any, root: int = 0, *, name: str | None = None, out: Any = None) -> Any:
    return current().broadcast(array, root, name=name, out=out)


def broadcast_async(array: Any, root: int = 0, *, name: str | None = None) -> Handle:
    engine = current()
    return background.submit_call(
        engine, "broadcast", name, lambda n: engine.broadcast(array, root, name=n)
    )


def reducescatter(
    array: Any,
    op: ReduceOp | str = ReduceOp.SUM,
    *,
    splits: Sequence[int] | None = None,
    name: str | None = None,
) -> Any:
    return current().reducescatter(array, op=op, splits=splits, name=name)


def reducescatter_async(
    array: Any, op: ReduceOp | str = ReduceOp.SUM, *, name: str | None = None
) -> Handle:
    engine = current()
    return background.submit_call(
        engine, "reducescatter", name, lambda n: engine.reducescatter(array, op=op, name=n)
    )


def alltoall(
    array: Any, splits: Sequence[int] | None = None, *, name: str | None = None
) -> tuple[Any, list[int]]:
    return current().alltoall(array, splits, name=name)


def alltoall_async(
    array: Any, splits: Sequence[int] | None = None, *, name: str | None = None
) -> Handle:
    engine = current()
    return background.submit_call(
        engine, "alltoall", name, lambda n: engine.alltoall(array, splits, name=n)
    )


def barrier() -> None:
    current().barrier()


def barrier_async() -> Handle:
    engine = current()
    return background.submit_call(engine, "barrier", None, lambda n: engine.barrier(name=n))


def join() -> int:
    """This rank has no more data: block until every rank has joined; returns the rank that
    joined last (the same on every rank).

    Meanwhile the other ranks' queued allreduces (Sum/Average: this rank adds zeros, Average
    still divides by the full size), grouped allreduces, broadcasts (from a rank that has
    not joined; this rank discards the data) and allgathers (this rank adds no rows) go on;
    other collectives raise ``JoinError`` on every rank. They must be queued through the
    async API (``*_async``; the torch and Keras adapters queue every collective): a
    synchronous numpy call here cannot meet a joined rank and raises a mismatch.
    """
    return background.join(current())


def synchronize(handle: Handle, timeout: float | None = None) -> Any:
    """Wait for an async collective and return its result (re-raising its error)."""
    return handle.wait(timeout)


def poll(handle: Handle) -> bool:
    """True once an async collective finished."""
    return handle.poll()
