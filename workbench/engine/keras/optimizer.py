"""``DistributedOptimizer`` for Keras 3: gradients are averaged over ranks in ``apply``.

``model.fit`` computes gradients and calls ``optimizer.apply_gradients`` -> ``apply``; the
subclass built here reduces them first (one fused allreduce per dtype, through
``tf.numpy_function`` inside the compiled train step), then runs the original ``apply``.
"""

from __future__ import annotations

from typing import Any

from workbench.engine import ops
from workbench.engine.keras.tf_ops import Average, Compression, allreduce_gradients
from workbench.engine.reduce_ops import ReduceOp


def DistributedOptimizer(
    optimizer: Any,
    name: str | None = None,
    compression: Any = Compression.none,
    op: ReduceOp | str = Average,
    backward_passes_per_step: int = 1,
) -> Any:
    """A copy of ``optimizer`` (same class and config) that averages gradients over ranks.

    For gradient accumulation use Keras' own ``gradient_accumulation_steps``;
    ``backward_passes_per_step`` other than 1 is refused.
    """
    ops.current()  # raises EngineNotInitializedError before init()
    if backward_passes_per_step != 1:
        raise ValueError(
            "backward_passes_per_step must be 1 with Keras 3; set the optimizer's "
            "gradient_accumulation_steps instead"
        )
    reduce_op = ReduceOp.parse(op)
    base = type(optimizer)
    label = name or f"Distributed{base.__name__}"

    def apply(self: Any, grads: Any, trainable_variables: Any = None) -> Any:
        reduced = allreduce_gradients(list(grads), reduce_op, compression, label)
        return base.apply(self, reduced, trainable_variables)

    cls: Any = type(base.__name__, (base,), {"apply": apply, "_wb_distributed": True})
    return cls.from_config(optimizer.get_config())
