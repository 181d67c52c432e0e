"""Horovod-compatible Keras 3 (TensorFlow backend) API over the Workbench engine.

    import workbench.engine.keras as hvd     # instead of: import horovod.tensorflow.keras as hvd
    hvd.init()
    model.compile(optimizer=hvd.DistributedOptimizer(keras.optimizers.SGD(0.01 * hvd.size())),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, callbacks=[hvd.callbacks.BroadcastGlobalVariablesCallback(0),
                               hvd.callbacks.MetricAverageCallback()])

Plain TensorFlow: ``allreduce``, ``grouped_allreduce``, ``broadcast``,
``broadcast_variables``, ``DistributedGradientTape``, ``join`` (ranks with fewer batches
stop early while the others keep training). ``Adasum`` is not provided.
"""

from workbench.engine.errors import (
    CollectiveMismatchError,
    EngineError,
    EngineNotInitializedError,
)
from workbench.engine.join import JoinError
from workbench.engine.keras import callbacks
from workbench.engine.keras.callbacks import (
    BroadcastGlobalVariablesCallback,
    LearningRateWarmupCallback,
    MetricAverageCallback,
)
from workbench.engine.keras.optimizer import DistributedOptimizer
from workbench.engine.keras.tf_ops import (
    Average,
    Compression,
    DistributedGradientTape,
    Max,
    Min,
    Product,
    Sum,
    allgather,
    allreduce,
    allreduce_gradients,
    broadcast,
    broadcast_variables,
    grouped_allreduce,
    join,
)
from workbench.engine.ops import (
    cross_rank,
    cross_size,
    init,
    is_initialized,
    local_rank,
    local_size,
    rank,
    shutdown,
    size,
)

__all__ = [
    "Average",
    "BroadcastGlobalVariablesCallback",
    "CollectiveMismatchError",
    "Compression",
    "DistributedGradientTape",
    "DistributedOptimizer",
    "EngineError",
    "EngineNotInitializedError",
    "JoinError",
    "LearningRateWarmupCallback",
    "Max",
    "MetricAverageCallback",
    "Min",
    "Product",
    "Sum",
    "allgather",
    "allreduce",
    "allreduce_gradients",
    "broadcast",
    "broadcast_variables",
    "callbacks",
    "cross_rank",
    "cross_size",
    "grouped_allreduce",
    "init",
    "is_initialized",
    "join",
    "local_rank",
    "local_size",
    "rank",
    "shutdown",
    "size",
]
