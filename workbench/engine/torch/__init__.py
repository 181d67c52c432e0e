"""Horovod-compatible PyTorch API over the Workbench engine.

    import workbench.engine.torch as hvd        # instead of: import horovod.torch as hvd
    hvd.init()
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

CPU tensors only (CUDA tensors are copied through host memory). ``Adasum`` is not
provided. ``join()`` lets ranks with fewer batches stop early: the others keep training
(see ``workbench.engine.join`` for what a joined rank stands in for).
"""

from workbench.engine.errors import (
    CollectiveMismatchError,
    EngineError,
    EngineNotInitializedError,
    StallError,
)
from workbench.engine.join import JoinError
from workbench.engine.torch.compression import Compression
from workbench.engine.torch.functions import (
    allgather_object,
    broadcast_object,
    broadcast_optimizer_state,
    broadcast_parameters,
)
from workbench.engine.torch.mpi_ops import (
    Average,
    Max,
    Min,
    Product,
    Sum,
    TorchHandle,
    allgather,
    allgather_async,
    allreduce,
    allreduce_,
    allreduce_async,
    allreduce_async_,
    alltoall,
    barrier,
    broadcast,
    broadcast_,
    broadcast_async,
    broadcast_async_,
    cross_rank,
    cross_size,
    cuda_built,
    gloo_built,
    gloo_enabled,
    grouped_allreduce,
    grouped_allreduce_,
    grouped_allreduce_async,
    init,
    is_initialized,
    join,
    local_rank,
    local_size,
    mpi_built,
    mpi_enabled,
    mpi_threads_supported,
    nccl_built,
    poll,
    rank,
    reducescatter,
    rocm_built,
    shutdown,
    size,
    synchronize,
)
from workbench.engine.torch.optimizer import DistributedOptimizer, GradientStateError
from workbench.engine.torch.sync_batch_norm import SyncBatchNorm

__all__ = [
    "Average",
    "CollectiveMismatchError",
    "Compression",
    "DistributedOptimizer",
    "EngineError",
    "EngineNotInitializedError",
    "GradientStateError",
    "JoinError",
    "Max",
    "Min",
    "Product",
    "StallError",
    "Sum",
    "SyncBatchNorm",
    "TorchHandle",
    "allgather",
    "allgather_async",
    "allgather_object",
    "allreduce",
    "allreduce_",
    "allreduce_async",
    "allreduce_async_",
    "alltoall",
    "barrier",
    "broadcast",
    "broadcast_",
    "broadcast_async",
    "broadcast_async_",
    "broadcast_object",
    "broadcast_optimizer_state",
    "broadcast_parameters",
    "cross_rank",
    "cross_size",
    "cuda_built",
    "gloo_built",
    "gloo_enabled",
    "grouped_allreduce",
    "grouped_allreduce_",
    "grouped_allreduce_async",
    "init",
    "is_initialized",
    "join",
    "local_rank",
    "local_size",
    "mpi_built",
    "mpi_enabled",
    "mpi_threads_supported",
    "nccl_built",
    "poll",
    "rank",
    "reducescatter",
    "rocm_built",
    "shutdown",
    "size",
    "synchronize",
]
