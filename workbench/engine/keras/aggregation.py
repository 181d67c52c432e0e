"""Local gradient aggregation for ``backward_passes_per_step`` (Horovod's name).

With ``backward_passes_per_step=N`` the distributed optimizer adds each step's gradients
into accumulators (optimizer variables, so they are saved and broadcast with the rest of
its state) and communicates only every N-th step: then the sums (divided by N when
``average_aggregated_gradients``) are reduced over ranks, applied, and the accumulators
cleared. On the other steps no variable of the model changes, but the optimizer's
``iterations`` still counts the step, as in Horovod. ``tf.IndexedSlices`` gradients are
accumulated dense. Works eagerly and inside the compiled ``model.fit`` step (``tf.cond``
picks the branch; every rank takes the same one, since all count the same steps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf


class LocalGradientAggregator:
    """Sums of gradients over ``backward_passes_per_step`` calls, flushed every N-th."""

    def __init__(self, backward_passes_per_step: int, average_aggregated_gradients: bool) -> None:
        if isinstance(backward_passes_per_step, bool) or backward_passes_per_step < 1:
            raise ValueError(
                f"backward_passes_per_step must be a positive integer, "
                f"got {backward_passes_per_step!r}"
            )
        self.passes = int(backward_passes_per_step)
        self.average = average_aggregated_gradients
        self._sums: dict[int, Any] = {}
        self._count: Any = None

    def build(self, optimizer: Any, variables: Sequence[Any]) -> None:
        """Create the accumulators as ``optimizer``'s variables (once)."""
        if self._count is not None:
            return
        for variable in variables:
            self._sums[id(variable)] = optimizer.add_variable_from_reference(
                variable, name="aggregated_gradient"
            )
        self._count = optimizer.add_variable(
            shape=(), dtype="int64", initializer="zeros", name="backward_passes"
        )

    def apply(
        self,
        grads: Sequence[Any],
        variables: Sequence[Any],
        apply_reduced: Callable[[list[Any]], Any],
        count_step: Callable[[], Any],
    ) -> None:
        """Add ``grads`` to the sums; on every N-th call hand the aggregated gradients to
        ``apply_reduced`` (which reduces and applies them) and clear the sums, otherwise
        call ``count_step``."""
        sums = [
            None if g is None else self._sums[id(v)] for g, v in zip(grads, variables, strict=True)
        ]
        for total, grad in zip(sums, grads, strict=True):
            if total is not None:
                total.assign_add(tf.convert_to_tensor(grad))
        self._count.assign_add(1)

        def flush() -> None:
            scale = 1.0 / self.passes if self.average else 1.0
            aggregated = [None if t is None else t.value * scale for t in sums]
            apply_reduced(aggregated)
            for total in sums:
                if total is not None:
                    total.assign(tf.zeros_like(total.value))
            self._count.assign(0)

        def skip() -> None:
            count_step()

        tf.cond(tf.equal(self._count.value, self.passes), flush, skip)
