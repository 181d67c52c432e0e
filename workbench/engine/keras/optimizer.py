"""``DistributedOptimizer`` and ``PartialDistributedOptimizer`` for Keras 3.

``model.fit`` computes gradients and calls ``optimizer.apply_gradients`` -> ``apply``; the
subclass built here combines them over ranks first (see ``gradients.py``: fused
allreduces, allgathered ``IndexedSlices``, through ``tf.numpy_function`` inside the
compiled train step), optionally aggregating several steps locally first (see
``aggregation.py``), then runs the original ``apply``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from workbench.engine import ops
from workbench.engine.keras.aggregation import LocalGradientAggregator
from workbench.engine.keras.gradients import GradientReduction, variables_of
from workbench.engine.keras.tf_ops import Average, Compression
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp


class _Distribution:
    """One optimizer's distributed state: how to reduce, what is local, the aggregator."""

    def __init__(
        self,
        reduction: GradientReduction,
        passes: int,
        average_aggregated: bool,
        local_layers: Iterable[Any],
    ) -> None:
        self.reduction = reduction
        self.aggregator = (
            LocalGradientAggregator(passes, average_aggregated) if passes > 1 else None
        )
        self.local_layers = list(local_layers)
        self.local_ids: set[int] = set()

    def is_local(self, variable: Any) -> bool:
        ids = self.local_ids | {id(v) for v in variables_of(self.local_layers)}
        return id(variable) in ids


def _distributed_class(base: Any, make_state: Any) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self._wb_state = make_state()

    def build(self: Any, variables: Any) -> None:
        base.build(self, variables)
        if self._wb_state.aggregator is not None:
            self._wb_state.aggregator.build(self, variables)

    def apply(self: Any, grads: Any, trainable_variables: Any = None) -> Any:
        state: _Distribution = self._wb_state
        if trainable_variables is None:
            variables = list(self._trainable_variables)
        else:
            variables = list(trainable_variables)
        if not self.built:
            self.build(variables)
        local = [state.is_local(v) for v in variables]

        def reduce_and_apply(gradients: list[Any]) -> Any:
            return base.apply(self, state.reduction.reduce(gradients, local), variables)

        if state.aggregator is None:
            return reduce_and_apply(list(grads))
        state.aggregator.apply(
            list(grads), variables, reduce_and_apply, lambda: self._iterations.assign_add(1)
        )
        return None

    def register_local_var(self: Any, variable: Any) -> None:
        """Do not reduce ``variable``'s gradient: each rank applies its own."""
        self._wb_state.local_ids.add(id(variable))

    methods = {
        "__init__": __init__,
        "build": build,
        "apply": apply,
        "register_local_var": register_local_var,
        "_wb_distributed": True,
    }
    return type(base.__name__, (base,), methods)


def PartialDistributedOptimizer(
    optimizer: Any,
    name: str | None = None,
    device_dense: str = "",
    device_sparse: str = "",
    compression: Any = Compression.none,
    sparse_as_dense: bool = False,
    gradient_predivide_factor: float = 1.0,
    op: ReduceOp | str = Average,
    backward_passes_per_step: int = 1,
    average_aggregated_gradients: bool = False,
    groups: Any = None,
    process_set: ProcessSet | None = None,
    local_layers: Iterable[Any] | None = None,
    scale_local_gradients: bool = True,
) -> Any:
    """A ``DistributedOptimizer`` that does not reduce the gradients of ``local_layers``'
    trainable variables: each rank applies its own gradient to them (divided by the
    process set's size when ``scale_local_gradients``), so those layers may differ
    between ranks while all others stay in step. See ``DistributedOptimizer`` for the rest.
    """
    ops.current()  # raises EngineNotInitializedError before init()
    del device_dense, device_sparse, groups
    base = type(optimizer)
    reduction = GradientReduction(
        ReduceOp.parse(op),
        compression,
        sparse_as_dense,
        gradient_predivide_factor,
        process_set,
        scale_local_gradients,
        name or f"Distributed{base.__name__}",
    )
    LocalGradientAggregator(backward_passes_per_step, average_aggregated_gradients)  # checks
    layers = list(local_layers or ())

    def make_state() -> _Distribution:
        return _Distribution(
            reduction, backward_passes_per_step, average_aggregated_gradients, layers
        )

    cls: Any = _distributed_class(base, make_state)
    return cls.from_config(optimizer.get_config())


def DistributedOptimizer(
    optimizer: Any,
    name: str | None = None,
    device_dense: str = "",
    device_sparse: str = "",
    compression: Any = Compression.none,
    sparse_as_dense: bool = False,
    gradient_predivide_factor: float = 1.0,
    op: ReduceOp | str = Average,
    backward_passes_per_step: int = 1,
    average_aggregated_gradients: bool = False,
    num_groups: int = 0,
    groups: Any = None,
    process_set: ProcessSet | None = None,
    scale_local_gradients: bool = True,
) -> Any:
    """A copy of ``optimizer`` (same class and config) whose ``apply`` first combines the
    gradients over the ranks of ``process_set`` (default: the world) with ``op``
    (``Average``; ``gradient_predivide_factor`` f splits it into ``1/f`` before the sum
    and ``f/size`` after).

    - ``sparse_as_dense``: ``IndexedSlices`` gradients (``Embedding``) are made dense and
      allreduced; without it they are allgathered (rows and indices), which gives the same
      update when few rows are touched.
    - ``backward_passes_per_step=N``: gradients are summed locally for N steps and
      reduced and applied every N-th step (divided by N when
      ``average_aggregated_gradients``); see ``aggregation.py``.
    - ``register_local_var(v)`` on the result (or ``PartialDistributedOptimizer``): ``v``'s
      gradient is not reduced (scaled by ``1/size`` when ``scale_local_gradients``).
    - ``compression``: ``Compression.fp16`` sends float gradients as float16.
    - ``device_dense``, ``device_sparse``, ``num_groups``, ``groups`` are accepted for
      Horovod's signature and change nothing: all gradients of one dtype are fused.

    Keras' own ``gradient_accumulation_steps`` still works on top (it accumulates after the
    reduction, so it communicates every step).
    """
    del num_groups
    return PartialDistributedOptimizer(
        optimizer,
        name,
        device_dense,
        device_sparse,
        compression,
        sparse_as_dense,
        gradient_predivide_factor,
        op,
        backward_passes_per_step,
        average_aggregated_gradients,
        groups,
        process_set,
        None,
        scale_local_gradients,
    )
