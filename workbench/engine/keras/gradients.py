"""How gradients are combined over ranks, and ``DistributedGradientTape`` /
``PartialDistributedGradientTape`` for custom training loops (``horovod.tensorflow``'s names).

Dense gradients are fused (one allreduce per dtype). ``tf.IndexedSlices`` gradients (an
``Embedding`` layer's, say) are allgathered as Horovod does (every rank's rows and their
indices, values divided by the set's size for ``Average``), so only the touched rows
travel; with ``sparse_as_dense=True`` (or an op other than ``Average``/``Sum``) they are
made dense first and allreduced with the rest. ``compression`` applies to the
allreduced (dense) gradients only. Gradients of *local* variables are not
reduced at all: each rank keeps its own, divided by the set's size when
``scale_local_gradients`` (Horovod's default, so that a learning rate scaled by ``size()``
suits them too).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from workbench.engine import ops
from workbench.engine.keras.tf_ops import (
    Average,
    Compression,
    Sum,
    numpy_call,
    set_size,
    submit_grouped,
)
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp


def _scaled(grad: Any, factor: float) -> Any:
    if isinstance(grad, tf.IndexedSlices):
        values = grad.values * tf.cast(factor, grad.values.dtype)
        return tf.IndexedSlices(values, grad.indices, grad.dense_shape)
    return grad * tf.cast(factor, grad.dtype)


def variables_of(layers: Iterable[Any]) -> list[Any]:
    """The trainable variables of Keras ``layers`` (for ``local_layers=``)."""
    return [v for layer in layers for v in layer.trainable_weights]


@dataclass(frozen=True)
class GradientReduction:
    """What to do with each gradient before it is applied: reduce it with ``op`` over
    ``process_set`` (``None``: the world), or, for a local variable, keep (and scale) it."""

    op: ReduceOp = Average
    compression: Any = Compression.none
    sparse_as_dense: bool = False
    gradient_predivide_factor: float = 1.0
    process_set: ProcessSet | None = None
    scale_local_gradients: bool = True
    name: str = "gradients"

    def __post_init__(self) -> None:
        object.__setattr__(self, "op", ReduceOp.parse(self.op))
        if self.gradient_predivide_factor != 1.0 and self.op != Average:
            raise ValueError("gradient_predivide_factor needs op=Average")

    def _gathers(self, grad: Any) -> bool:
        sparse = isinstance(grad, tf.IndexedSlices)
        return sparse and not self.sparse_as_dense and self.op in (Average, Sum)

    def reduce(self, grads: Sequence[Any], local: Sequence[bool] | None = None) -> list[Any]:
        """``grads`` combined over ranks (``None`` stays ``None``); ``local[i]``: the i-th
        belongs to a local variable and is not reduced."""
        size = set_size(self.process_set)
        out = list(grads)
        dense: list[int] = []
        sparse: list[int] = []
        for i, grad in enumerate(grads):
            if grad is None:
                continue
            if local is not None and local[i]:
                out[i] = _scaled(grad, 1.0 / size) if self.scale_local_gradients else grad
            elif self._gathers(grad):
                sparse.append(i)
            else:
                dense.append(i)
        compressed = [self.compression.compress(tf.convert_to_tensor(grads[i])) for i in dense]
        slices = [grads[i] for i in sparse]
        tensors = (
            [t for t, _ in compressed] + [s.values for s in slices] + [s.indices for s in slices]
        )
        shapes = [t.shape for t, _ in compressed]
        shapes += [[None, *s.values.shape[1:]] for s in slices] + [[None] for _ in slices]
        if not tensors:
            return out
        results = numpy_call(self._exchange(len(dense), size), tensors, shapes)
        n = len(dense)
        for i, (_, ctx), reduced in zip(dense, compressed, results[:n], strict=True):
            out[i] = self.compression.decompress(reduced, ctx)
        values, indices = results[n : n + len(sparse)], results[n + len(sparse) :]
        for i, value, index in zip(sparse, values, indices, strict=True):
            if self.op == Average:
                value = value / tf.cast(size, value.dtype)
            out[i] = tf.IndexedSlices(value, index, grads[i].dense_shape)
        return out

    def _exchange(self, n_dense: int, size: int) -> Any:
        """A numpy function: queue the dense allreduces and the sparse allgathers, then
        wait for all of them (one call, so no rank waits on a request another has not
        queued yet)."""
        op, pre, post = self.op, 1.0, 1.0
        if self.gradient_predivide_factor != 1.0:
            op, pre = Sum, 1.0 / self.gradient_predivide_factor
            post = self.gradient_predivide_factor / size
        name, process_set = self.name, self.process_set

        def exchange(*arrays: Any) -> list[Any]:
            wait_dense = submit_grouped(arrays[:n_dense], op, name, process_set, pre, post)
            rows = arrays[n_dense:]  # the sparse gradients' values, then their indices
            gathers = [
                ops.allgather_async(array, name=f"{name}.sparse.{k}", process_set=process_set)
                for k, array in enumerate(rows)
            ]
            gathered = [
                np.asarray(ops.synchronize(handle), dtype=array.dtype)
                for handle, array in zip(gathers, rows, strict=True)
            ]
            return wait_dense() + gathered

        return exchange


def allreduce_gradients(
    grads: Sequence[Any],
    op: ReduceOp | str = Average,
    compression: Any = Compression.none,
    name: str = "gradients",
    sparse_as_dense: bool = False,
    process_set: ProcessSet | None = None,
) -> list[Any]:
    """Every non-``None`` gradient reduced over the ranks of ``process_set``."""
    reduction = GradientReduction(
        ReduceOp.parse(op), compression, sparse_as_dense, process_set=process_set, name=name
    )
    return reduction.reduce(grads)


class DistributedGradientTape:
    """A ``tf.GradientTape`` whose ``gradient()`` returns gradients combined over the ranks
    of ``process_set`` (averaged by default); sources registered with
    ``register_local_source`` keep their local gradient.

    ``device_dense``, ``device_sparse``, ``num_groups`` and ``groups`` are accepted for
    Horovod's signature and change nothing: the engine fuses all gradients of one dtype.
    """

    def __init__(
        self,
        gradtape: Any,
        device_dense: str = "",
        device_sparse: str = "",
        compression: Any = Compression.none,
        sparse_as_dense: bool = False,
        op: ReduceOp | str = Average,
        gradient_predivide_factor: float = 1.0,
        num_groups: int = 0,
        groups: Any = None,
        process_set: ProcessSet | None = None,
        scale_local_gradients: bool = True,
    ) -> None:
        ops.current()  # raises EngineNotInitializedError before init()
        del device_dense, device_sparse, num_groups, groups
        self._tape = gradtape
        self._local_ids: set[int] = set()
        self._reduction = GradientReduction(
            ReduceOp.parse(op),
            compression,
            sparse_as_dense,
            gradient_predivide_factor,
            process_set,
            scale_local_gradients,
            "tape.gradients",
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tape, name)

    def __enter__(self) -> DistributedGradientTape:
        self._tape.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._tape.__exit__(*exc)

    def register_local_source(self, source: Any) -> None:
        """Do not reduce the gradient of ``source`` (a variable): each rank keeps its own."""
        self._local_ids.add(id(source))

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None) -> Any:
        grads = self._tape.gradient(target, sources, output_gradients)
        local = [id(s) in self._local_ids for s in tf.nest.flatten(sources)]
        reduced = self._reduction.reduce(tf.nest.flatten(grads), local)
        return tf.nest.pack_sequence_as(grads, reduced)


def PartialDistributedGradientTape(
    gradtape: Any, *, local_layers: Iterable[Any] | None = None, **options: Any
) -> DistributedGradientTape:
    """A ``DistributedGradientTape`` that leaves the gradients of ``local_layers``' trainable
    variables unreduced (``options``: those of ``DistributedGradientTape``)."""
    tape = DistributedGradientTape(gradtape, **options)
    for variable in variables_of(local_layers or ()):
        tape.register_local_source(variable)
    return tape
