"""Horovod-compatible Keras 3 (TensorFlow backend) API over the Workbench engine.

    import workbench.engine.keras as hvd     # instead of: import horovod.tensorflow.keras as hvd
    hvd.init()
    model.compile(optimizer=hvd.DistributedOptimizer(keras.optimizers.SGD(0.01 * hvd.size())),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                               hvd.callbacks.MetricAverageCallback()])

What there is, with Horovod's names and arguments:

- ``DistributedOptimizer`` (``sparse_as_dense``, ``backward_passes_per_step`` with
  ``average_aggregated_gradients``, ``gradient_predivide_factor``, ``compression``,
  ``op``, ``process_set``, ``scale_local_gradients``) and ``PartialDistributedOptimizer``
  (``local_layers``: their gradients are not reduced).
- Plain TensorFlow: ``allreduce``, ``grouped_allreduce``, ``allgather``, ``broadcast``,
  ``reducescatter``, ``alltoall``, ``broadcast_variables``, ``DistributedGradientTape``,
  ``PartialDistributedGradientTape``, ``join`` (ranks with fewer batches stop early while
  the others keep training); each takes ``process_set=``.
- Process sets: ``ProcessSet``, ``add_process_set``, ``remove_process_set``,
  ``global_process_set`` (``init(process_sets=...)`` registers some at once).
- ``callbacks``: ``BroadcastGlobalVariablesCallback`` (``local_variables``),
  ``MetricAverageCallback``, ``LearningRateScheduleCallback``,
  ``LearningRateWarmupCallback``, ``BestModelCheckpoint`` (written by rank 0).

What differs from Horovod: ``Adasum`` is not provided; ``device_dense``/``device_sparse``
/``groups`` are accepted and change nothing (one fused allreduce per dtype);
``momentum_correction`` is not applied (Keras 3 compiles momentum as a constant). Elastic
training (``hvd.elastic.KerasState``, ``elastic.run``, its callbacks) needs an elastic driver
that re-forms the world when workers come and go; this engine runs on a fixed ``mpiexec``
world, so the names in ``elastic`` raise ``NotImplementedError`` saying what to do instead
(checkpoint on rank 0 and restart).
"""

from workbench.engine.errors import (
    CollectiveMismatchError,
    EngineError,
    EngineNotInitializedError,
    InvalidProcessSetError,
)
from workbench.engine.join import JoinError
from workbench.engine.keras import callbacks, elastic
from workbench.engine.keras.callbacks import (
    BestModelCheckpoint,
    BroadcastGlobalVariablesCallback,
    LearningRateScheduleCallback,
    LearningRateWarmupCallback,
    MetricAverageCallback,
)
from workbench.engine.keras.gradients import (
    DistributedGradientTape,
    PartialDistributedGradientTape,
    allreduce_gradients,
)
from workbench.engine.keras.optimizer import DistributedOptimizer, PartialDistributedOptimizer
from workbench.engine.keras.tf_ops import (
    Average,
    Compression,
    Max,
    Min,
    Product,
    Sum,
    allgather,
    allreduce,
    alltoall,
    broadcast,
    broadcast_variables,
    grouped_allreduce,
    join,
    reducescatter,
)
from workbench.engine.ops import (
    add_process_set,
    cross_rank,
    cross_size,
    global_process_set,
    init,
    is_initialized,
    local_rank,
    local_size,
    rank,
    remove_process_set,
    shutdown,
    size,
)
from workbench.engine.process_sets import ProcessSet

__all__ = [
    "Average",
    "BestModelCheckpoint",
    "BroadcastGlobalVariablesCallback",
    "CollectiveMismatchError",
    "Compression",
    "DistributedGradientTape",
    "DistributedOptimizer",
    "EngineError",
    "EngineNotInitializedError",
    "InvalidProcessSetError",
    "JoinError",
    "LearningRateScheduleCallback",
    "LearningRateWarmupCallback",
    "Max",
    "MetricAverageCallback",
    "Min",
    "PartialDistributedGradientTape",
    "PartialDistributedOptimizer",
    "ProcessSet",
    "Product",
    "Sum",
    "add_process_set",
    "allgather",
    "allreduce",
    "allreduce_gradients",
    "alltoall",
    "broadcast",
    "broadcast_variables",
    "callbacks",
    "cross_rank",
    "cross_size",
    "elastic",
    "global_process_set",
    "grouped_allreduce",
    "init",
    "is_initialized",
    "join",
    "local_rank",
    "local_size",
    "rank",
    "reducescatter",
    "remove_process_set",
    "shutdown",
    "size",
]
