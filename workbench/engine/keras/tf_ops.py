"""Collectives on TensorFlow tensors (eager or inside ``tf.function``) with
``horovod.tensorflow``'s names; each takes ``process_set=`` (default: the whole world).

Inside a graph the engine runs through ``tf.numpy_function``; keep such graphs off XLA
(``jit_compile=False``), which cannot call back into Python. Every collective is queued on
the engine's thread (as in Horovod), so a rank that called ``join()`` can stand in for it.
A rank outside ``process_set`` must not call that set's collectives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from workbench.engine import ops
from workbench.engine.errors import InvalidProcessSetError
from workbench.engine.process_sets import ProcessSet
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


def set_size(process_set: ProcessSet | None) -> int:
    """How many ranks ``process_set`` has (the world's size for ``None``)."""
    ps = ops.global_process_set if process_set is None else process_set
    size = ps.size()
    if size is None:
        raise InvalidProcessSetError(f"{ps!r} is not registered: call add_process_set()")
    return size


def numpy_call(
    fn: Callable[..., list[Any]], tensors: Sequence[Any], shapes: Sequence[Any]
) -> list[Any]:
    """``fn`` (numpy arrays in, a list of numpy arrays out, dtypes kept) on ``tensors``:
    called directly when eager, through one ``tf.numpy_function`` inside a graph, with the
    outputs' static ``shapes`` set there (``None`` for an unknown dimension)."""
    values = [tf.convert_to_tensor(t) for t in tensors]
    if tf.executing_eagerly():
        return [tf.convert_to_tensor(r) for r in fn(*(v.numpy() for v in values))]
    outs = tf.numpy_function(fn, values, Tout=[v.dtype for v in values], stateful=True)
    for out, shape in zip(outs, shapes, strict=True):
        out.set_shape(shape)
    return list(outs)


def submit_grouped(
    arrays: Sequence[Any],
    op: ReduceOp,
    name: str,
    process_set: ProcessSet | None,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
) -> Callable[[], list[Any]]:
    """Queue fused allreduces of numpy ``arrays`` (one per dtype); the returned function
    waits and gives the results in input order, each with its input's dtype."""
    by_dtype: dict[str, list[int]] = {}
    for i, array in enumerate(arrays):
        by_dtype.setdefault(np.asarray(array).dtype.str, []).append(i)
    pending = []
    for dtype, indices in sorted(by_dtype.items()):
        group = [np.asarray(arrays[i]) for i in indices]
        handle = ops.grouped_allreduce_async(
            group,
            op,
            name=f"{name}.{dtype}",
            prescale_factor=prescale_factor,
            postscale_factor=postscale_factor,
            process_set=process_set,
        )
        pending.append((indices, group[0].dtype, handle))

    def wait() -> list[Any]:
        results: list[Any] = [None] * len(arrays)
        for indices, dtype, handle in pending:
            for i, out in zip(indices, ops.synchronize(handle), strict=True):
                results[i] = np.asarray(out, dtype=dtype)
        return results

    return wait


def grouped_allreduce(
    tensors: Sequence[Any],
    op: ReduceOp | str = Average,
    name: str = "grouped_allreduce",
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet | None = None,
) -> list[Any]:
    """``op`` over the ranks of ``process_set`` of each tensor, fused; eager or in a graph."""
    reduce_op = ReduceOp.parse(op)
    values = [tf.convert_to_tensor(t) for t in tensors]
    if not values:
        return []

    def reduce(*arrays: Any) -> list[Any]:
        scales = (prescale_factor, postscale_factor)
        return submit_grouped(arrays, reduce_op, name, process_set, *scales)()

    return numpy_call(reduce, values, [v.shape for v in values])


def allreduce(
    tensor: Any,
    average: bool | None = None,
    name: str | None = None,
    op: ReduceOp | str | None = None,
    compression: Any = Compression.none,
    prescale_factor: float = 1.0,
    postscale_factor: float = 1.0,
    process_set: ProcessSet | None = None,
) -> Any:
    """``op`` (default ``Average``) of ``tensor`` over the ranks of ``process_set``."""
    if average is not None:
        op = Average if average else Sum
    sent, ctx = compression.compress(tf.convert_to_tensor(tensor))
    scales = (prescale_factor, postscale_factor)
    reduce_op = Average if op is None else op
    out = grouped_allreduce([sent], reduce_op, name or "allreduce", *scales, process_set)[0]
    return compression.decompress(out, ctx)


def broadcast(
    tensor: Any, root_rank: int = 0, name: str | None = None, process_set: ProcessSet | None = None
) -> Any:
    """``root_rank``'s value of ``tensor`` (``root_rank`` is a world rank in ``process_set``);
    eager or in a graph."""
    value = tf.convert_to_tensor(tensor)

    def send(array: Any) -> list[Any]:
        handle = ops.broadcast_async(array, root_rank, name=name, process_set=process_set)
        return [np.asarray(ops.synchronize(handle), dtype=array.dtype)]

    return numpy_call(send, [value], [value.shape])[0]


def allgather(tensor: Any, name: str | None = None, process_set: ProcessSet | None = None) -> Any:
    """Every rank's ``tensor`` concatenated along the first dimension (which may differ
    between ranks); eager or in a graph."""
    value = tf.convert_to_tensor(tensor)

    def gather(array: Any) -> list[Any]:
        handle = ops.allgather_async(array, name=name, process_set=process_set)
        return [np.asarray(ops.synchronize(handle), dtype=array.dtype)]

    return numpy_call(gather, [value], [[None, *value.shape[1:]]])[0]


def reducescatter(
    tensor: Any,
    name: str | None = None,
    op: ReduceOp | str = Average,
    process_set: ProcessSet | None = None,
) -> Any:
    """``op`` over ranks of ``tensor``, of which each rank keeps its share of the first
    dimension (the first ranks get one row more when it does not divide evenly); eager."""
    array = np.asarray(tf.convert_to_tensor(tensor))
    handle = ops.reducescatter_async(array, op, name=name, process_set=process_set)
    return tf.convert_to_tensor(np.asarray(ops.synchronize(handle), dtype=array.dtype))


def alltoall(
    tensor: Any,
    splits: Any = None,
    name: str | None = None,
    process_set: ProcessSet | None = None,
) -> tuple[Any, Any]:
    """Rows ``splits[j]`` of ``tensor`` go to rank ``j`` (equal shares without ``splits``);
    returns (the rows received, how many came from each rank); eager."""
    array = np.asarray(tf.convert_to_tensor(tensor))
    sent = None if splits is None else [int(s) for s in np.asarray(splits)]
    handle = ops.alltoall_async(array, sent, name=name, process_set=process_set)
    received, counts = ops.synchronize(handle)
    return (
        tf.convert_to_tensor(np.asarray(received, dtype=array.dtype)),
        tf.constant(counts, dtype=tf.int32),
    )


def broadcast_variables(
    variables: Sequence[Any], root_rank: int = 0, process_set: ProcessSet | None = None
) -> None:
    """Assign ``root_rank``'s values to ``variables`` (TF or Keras variables) on every rank
    of ``process_set`` (eager)."""
    handles = []
    for i, variable in enumerate(variables):
        value = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)
        name = f"broadcast_variables.{i}"
        handles.append(ops.broadcast_async(value, root_rank, name=name, process_set=process_set))
    for variable, handle in zip(variables, handles, strict=True):
        variable.assign(ops.synchronize(handle))


def join(process_set: ProcessSet | None = None) -> int:
    """This rank has no more data: block until every rank of ``process_set`` has joined;
    returns the rank that joined last, the same on every rank. Meanwhile this rank adds
    zeros to the others' allreduces (``Average`` still divides by the set's size), discards
    their broadcasts and adds no rows to their allgathers; see ``workbench.engine.join``."""
    return ops.join(process_set=process_set)
