"""Horovod-compatible PyTorch API over the Workbench engine.

    import workbench.engine.torch as hvd        # instead of: import horovod.torch as hvd
    hvd.init()
    optimizer = hvd.DistributedOptimizer(optimizer, named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    hvd.broadcast_optimizer_state(optimizer, root_rank=0)

CPU tensors only (CUDA tensors are copied through host memory). ``Adasum`` is not
provided (ops given it raise), nor are process sets yet. The blocking collectives are
differentiable (see ``autograd.py``). ``join()`` lets ranks with fewer batches stop early:
the others keep training (see ``workbench.engine.join`` for what a joined rank stands in
for).
"""

from workbench.engine.errors import (
    CollectiveMismatchError,
    DuplicateNameError,
    EngineError,
    EngineNotInitializedError,
    InvalidArgumentError,
    InvalidProcessSetError,
    StallError,
)
from workbench.engine.join import JoinError
from workbench.engine.ops import (
    add_process_set,
    global_process_set,
    process_sets,
    remove_process_set,
)
from workbench.engine.process_sets import ProcessSet
from workbench.engine.torch.autograd import (
    allgather,
    allreduce,
    alltoall,
    broadcast,
    grouped_allgather,
    grouped_allreduce,
    grouped_reducescatter,
    reducescatter,
)
from workbench.engine.torch.compression import Compression
from workbench.engine.torch.functions import (
    allgather_object,
    broadcast_object,
    broadcast_optimizer_state,
    broadcast_parameters,
)
from workbench.engine.torch.movement_ops import (
    allgather_async,
    alltoall_async,
    broadcast_,
    broadcast_async,
    broadcast_async_,
    grouped_allgather_async,
    grouped_reducescatter_async,
    reducescatter_async,
)
from workbench.engine.torch.mpi_ops import (
    Adasum,
    Average,
    Max,
    Min,
    Product,
    Sum,
    allreduce_,
    allreduce_async,
    allreduce_async_,
    barrier,
    ccl_built,
    cross_rank,
    cross_size,
    cuda_built,
    ddl_built,
    gloo_built,
    gloo_enabled,
    grouped_allreduce_,
    grouped_allreduce_async,
    grouped_allreduce_async_,
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
    rocm_built,
    shutdown,
    size,
    synchronize,
)
from workbench.engine.torch.optimizer import DistributedOptimizer, GradientStateError
from workbench.engine.torch.sparse import sparse_allreduce_async
from workbench.engine.torch.sync_batch_norm import SyncBatchNorm
from workbench.engine.torch.tensors import GroupHandle, TorchHandle

HorovodInternalError = EngineError  # Horovod's name for a failed collective

__all__ = [
    "Adasum",
    "Average",
    "CollectiveMismatchError",
    "Compression",
    "DistributedOptimizer",
    "DuplicateNameError",
    "EngineError",
    "EngineNotInitializedError",
    "GradientStateError",
    "GroupHandle",
    "HorovodInternalError",
    "InvalidArgumentError",
    "InvalidProcessSetError",
    "JoinError",
    "Max",
    "Min",
    "ProcessSet",
    "Product",
    "StallError",
    "Sum",
    "SyncBatchNorm",
    "TorchHandle",
    "add_process_set",
    "allgather",
    "allgather_async",
    "allgather_object",
    "allreduce",
    "allreduce_",
    "allreduce_async",
    "allreduce_async_",
    "alltoall",
    "alltoall_async",
    "barrier",
    "broadcast",
    "broadcast_",
    "broadcast_async",
    "broadcast_async_",
    "broadcast_object",
    "broadcast_optimizer_state",
    "broadcast_parameters",
    "ccl_built",
    "cross_rank",
    "cross_size",
    "cuda_built",
    "ddl_built",
    "global_process_set",
    "gloo_built",
    "gloo_enabled",
    "grouped_allgather",
    "grouped_allgather_async",
    "grouped_allreduce",
    "grouped_allreduce_",
    "grouped_allreduce_async",
    "grouped_allreduce_async_",
    "grouped_reducescatter",
    "grouped_reducescatter_async",
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
    "process_sets",
    "rank",
    "reducescatter",
    "reducescatter_async",
    "remove_process_set",
    "rocm_built",
    "shutdown",
    "size",
    "sparse_allreduce_async",
    "synchronize",
]
