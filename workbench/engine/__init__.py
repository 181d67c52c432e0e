"""The training engine: a pure library (numpy + mpi4py).

Synchronous data-parallel collectives over MPI and tensor swapping. Nothing here
imports Jupyter, MLflow, Label Studio or pydantic; torch and TensorFlow are imported
only inside the framework adapters (``workbench.engine.torch`` / ``.keras``).
"""

from workbench.engine.background import Handle
from workbench.engine.engine import Engine
from workbench.engine.errors import (
    CollectiveMismatchError,
    EngineError,
    EngineNotInitializedError,
    StallError,
    TopologyError,
    UnsupportedDtypeError,
    UnsupportedOpError,
)
from workbench.engine.join import JoinError
from workbench.engine.ops import (
    allgather,
    allgather_async,
    allgatherv,
    allreduce,
    allreduce_async,
    alltoall,
    alltoall_async,
    barrier,
    broadcast,
    broadcast_async,
    cross_rank,
    cross_size,
    grouped_allreduce,
    grouped_allreduce_async,
    init,
    is_initialized,
    join,
    last_bytes_sent,
    local_rank,
    local_size,
    poll,
    rank,
    reducescatter,
    reducescatter_async,
    shutdown,
    size,
    synchronize,
)
from workbench.engine.reduce_ops import ReduceOp

__all__ = [
    "CollectiveMismatchError",
    "Engine",
    "EngineError",
    "EngineNotInitializedError",
    "Handle",
    "JoinError",
    "ReduceOp",
    "StallError",
    "TopologyError",
    "UnsupportedDtypeError",
    "UnsupportedOpError",
    "allgather",
    "allgather_async",
    "allgatherv",
    "allreduce",
    "allreduce_async",
    "alltoall",
    "alltoall_async",
    "barrier",
    "broadcast",
    "broadcast_async",
    "cross_rank",
    "cross_size",
    "grouped_allreduce",
    "grouped_allreduce_async",
    "init",
    "is_initialized",
    "join",
    "last_bytes_sent",
    "local_rank",
    "local_size",
    "poll",
    "rank",
    "reducescatter",
    "reducescatter_async",
    "shutdown",
    "size",
    "synchronize",
]
