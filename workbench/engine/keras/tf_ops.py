"""Collectives on TensorFlow tensors (eager or inside ``tf.function``) and
``DistributedGradientTape``, with ``horovod.tensorflow``'s names.

Inside a graph the engine runs through ``tf.numpy_function``; keep such graphs off XLA
(``jit_compile=False``), which cannot call back into Python. Every collective is queued on
the engine's thread (as in Horovod), so a rank that called ``join()`` can stand in for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from workbench.engine import ops
from workbench.engine.reduce_ops import ReduceOp

Average = ReduceOp.AVERAGE
Sum = ReduceOp.SUM
Min = ReduceOp.MIN
Max = ReduceOp.MAX
Product = ReduceOp.PRODUCT


class Compression:
    """``Compression.none`` / ``Compression.fp16`` for TF tensors."""

    class none:
        @staticmethod
        def compress(tensor: Any) -> tuple[Any, Any]:
            return tensor, None

        @staticmethod
        def decompress(tensor: Any, ctx: Any) -> Any:
            return tensor

    class fp16:
        @staticmethod
        def compress(tensor: Any) -> tuple[Any, Any]:
            if tensor.dtype.is_floating and tensor.dtype != tf.float16:
                return tf.cast(tensor, tf.float16), tensor.dtype
            return tensor, None

        @staticmethod
        def decompress(tensor: Any, ctx: Any) -> Any:
            return tensor if ctx is None else tf.cast(tensor, ctx)


def _grouped_numpy(arrays: Sequence[Any], op: ReduceOp, name: str) -> list[Any]:
    """Allreduce numpy arrays, one fused call per dtype; results in input order."""
    results: list[Any] = [None] * len(arrays)
    by_dtype: dict[str, list[int]] = {}
    for i, array in enumerate(arrays):
        by_dtype.setdefault(np.asarray(array).dtype.str, []).append(i)
    for dtype, indices in sorted(by_dtype.items()):
        group = [np.asarray(arrays[i]) for i in indices]
        reduced = ops.synchronize(ops.grouped_allreduce_async(group, op, name=f"{name}.{dtype}"))
        for i, out in zip(indices, reduced, strict=True):
            results[i] = np.asarray(out, dtype=group[0].dtype)
    return results


def grouped_allreduce(
    tensors: Sequence[Any], op: ReduceOp | str = Average, name: str = "grouped_allreduce"
) -> list[Any]:
    """``op`` over ranks of each tensor, fused; works eagerly and inside ``tf.function``."""
    reduce_op = ReduceOp.parse(op)
    values = [tf.convert_to_tensor(t) for t in tensors]
    if not values:
        return []
    if tf.executing_eagerly():
        reduced = _grouped_numpy([v.numpy() for v in values], reduce_op, name)
        return [tf.convert_to_tensor(r) for r in reduced]
    outs = tf.numpy_function(
        lambda *arrays: _grouped_numpy(arrays, reduce_op, name),
        values,
        Tout=[v.dtype for v in values],
        stateful=True,
    )
    for out, value in zip(outs, values, strict=True):
        out.set_shape(value.shape)
    return list(outs)


def allreduce(
    tensor: Any,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    compression: Any = Compression.none,
) -> Any:
    """``op`` (default ``Average``) of ``tensor`` over all ranks."""
    if average is not None:
        op = Average if average else Sum
    sent, ctx = compression.compress(tf.convert_to_tensor(tensor))
    out = grouped_allreduce([sent], Average if op is None else op, name or "allreduce")[0]
    return compression.decompress(out, ctx)


def broadcast(tensor: Any, root_rank: int = 0, name: str | None = None) -> Any:
    """``root_rank``'s value of ``tensor`` (eager)."""
    value = np.asarray(tf.convert_to_tensor(tensor))
    return tf.convert_to_tensor(ops.synchronize(ops.broadcast_async(value, root_rank, name=name)))


def allgather(tensor: Any, name: str | None = None) -> Any:
    """Every rank's ``tensor`` concatenated along the first dimension (which may differ
    between ranks); works eagerly and inside ``tf.function``."""
    value = tf.convert_to_tensor(tensor)

    def gather(array: Any) -> Any:
        return np.asarray(ops.synchronize(ops.allgather_async(np.asarray(array), name=name)))

    if tf.executing_eagerly():
        return tf.convert_to_tensor(gather(value.numpy()))
    out = tf.numpy_function(gather, [value], Tout=value.dtype, stateful=True)
    out.set_shape([None, *value.shape[1:]])
    return out


def broadcast_variables(variables: Sequence[Any], root_rank: int = 0) -> None:
    """Assign ``root_rank``'s values to ``variables`` (TF or Keras variables) on every rank."""
    for i, variable in enumerate(variables):
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        handle = ops.broadcast_async(value, root_rank, name=f"broadcast_variables.{i}")
        variable.assign(ops.synchronize(handle))


def join() -> int:
    """This rank has no more data: block until every rank has joined; returns the rank that
    joined last, the same on every rank. Meanwhile this rank adds zeros to the others'
    allreduces (``Average`` still divides by ``size()``), discards their broadcasts and adds
    no rows to their allgathers; see ``workbench.engine.join``."""
    return ops.join()


def _dense(grad: Any) -> Any:
    if isinstance(grad, tf.IndexedSlices):
        return tf.convert_to_tensor(grad)
    return grad


def allreduce_gradients(
    grads: Sequence[Any],
    op: ReduceOp | str = Average,
    compression: Any = Compression.none,
    name: str = "gradients",
) -> list[Any]:
    """Every non-``None`` gradient reduced over ranks (``None`` stays ``None``)."""
    present = [i for i, g in enumerate(grads) if g is not None]
    sent, contexts = [], []
    for i in present:
        tensor, ctx = compression.compress(_dense(grads[i]))
        sent.append(tensor)
        contexts.append(ctx)
    reduced = grouped_allreduce(sent, op, name)
    out = list(grads)
    for i, tensor, ctx in zip(present, reduced, contexts, strict=True):
        out[i] = compression.decompress(tensor, ctx)
    return out


class DistributedGradientTape:
    """A ``tf.GradientTape`` whose ``gradient()`` returns gradients averaged over ranks."""

    def __init__(
        self, gradtape: Any, compression: Any = Compression.none, op: ReduceOp | str = Average
    ) -> None:
        ops.current()  # raises EngineNotInitializedError before init()
        self._tape = gradtape
        self._compression = compression
        self._op = ReduceOp.parse(op)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tape, name)

    def __enter__(self) -> DistributedGradientTape:
        self._tape.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._tape.__exit__(*exc)

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None) -> Any:
        grads = self._tape.gradient(target, sources, output_gradients)
        flat = tf.nest.flatten(grads)
        reduced = allreduce_gradients(flat, self._op, self._compression, "tape.gradients")
        return tf.nest.pack_sequence_as(grads, reduced)
