"""``DistributedOptimizer``: gradients are averaged over ranks while backward still runs.

Each parameter gets a post-accumulate-grad hook. When its gradient is final for this step
(after ``backward_passes_per_step`` passes) the hook adds it to the open bucket; once the
bucket holds ``bucket_bytes`` (``WORKBENCH_BUCKET_BYTES``, default 8 MiB) it is queued as one
fused async allreduce on the engine's background thread, so communication of the last
layers overlaps with backward of the first. Few large buckets, not one request per
parameter: on a box with a core per rank the communication thread competes with backward
for the CPU and the GIL, and each collective costs a negotiation round. ``step()`` (or
``synchronize()``) waits only for what is still in flight, writes the averaged gradients
back and then runs the wrapped optimizer's own ``step``.

Every rank must produce gradients for the same parameters in the same order (true for the
same model and a data-independent graph): the engine pairs queued requests by position. A
bucket is sent in parameter order, whatever order its gradients arrived in, so gradients
that only some ranks computed (an unused branch) still meet at ``step()``, zeros standing
in for the missing ones. Sparse gradients (``nn.Embedding(sparse=True)``) are allgathered
as indices and values, or reduced as dense tensors with ``sparse_as_dense=True``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from workbench.engine import ops
from workbench.engine.errors import EngineError
from workbench.engine.ops import global_process_set
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.requests import AllreduceOptions, Kind, Request
from workbench.engine.torch.compression import Compression
from workbench.engine.torch.sparse import sparse_allreduce_async
from workbench.engine.torch.staging import Staged, stage_out, to_device
from workbench.engine.torch.tensors import to_numpy, to_tensor

BUCKET_BYTES_ENV = "WORKBENCH_BUCKET_BYTES"
DEFAULT_BUCKET_BYTES = 8 << 20


class GradientStateError(EngineError):
    """The optimizer was used out of order (``zero_grad`` with gradients still in flight)."""


@dataclass
class _Bucket:
    """Gradients queued as one fused allreduce: what was sent and how to restore it."""

    params: list[torch.Tensor]
    sent: list[torch.Tensor]
    contexts: list[Any]
    handle: Any = None
    staged: Staged | None = None  # CUDA gradients: their pinned host copies


class _DistributedOptimizer(torch.optim.Optimizer):
    """Methods copied onto a subclass of the user's optimizer class (see the factory)."""

    _wb_base: type[torch.optim.Optimizer]

    def _wb_setup(
        self,
        names: dict[torch.Tensor, str],
        compression: Any,
        backward_passes_per_step: int,
        op: ReduceOp,
        overlap: bool,
        bucket_bytes: int,
        sparse_as_dense: bool,
        process_set: ProcessSet,
    ) -> None:
        self._wb_process_set = process_set
        # a rank outside the set trains alone: it reduces nothing (as in Horovod)
        self._wb_reduces = bool(process_set.included())
        self._wb_names = names
        self._parameter_names = names  # Horovod's attribute: parameter -> its unique name
        self._wb_order = {p: i for i, p in enumerate(names)}
        self._wb_sparse_as_dense = sparse_as_dense
        self._wb_sparse: list[tuple[torch.Tensor, Callable[[], torch.Tensor]]] = []
        self._wb_compression = compression
        self._wb_passes_per_step = backward_passes_per_step
        self._wb_op = op
        self._wb_overlap = overlap
        self._wb_bucket_bytes = bucket_bytes
        self._wb_passes: dict[torch.Tensor, int] = {}
        self._wb_open: list[torch.Tensor] = []  # ready, not queued yet
        self._wb_open_bytes = 0
        self._wb_queued: set[torch.Tensor] = set()
        self._wb_buckets: list[_Bucket] = []
        self._wb_synchronized = False
        self._wb_should_synchronize = True
        self._wb_hooks = [
            p.register_post_accumulate_grad_hook(self._wb_grad_ready)  # type: ignore[no-untyped-call]
            for p in names
            if p.requires_grad and self._wb_reduces
        ]

    def _wb_grad_ready(self, param: torch.Tensor) -> None:
        passes = self._wb_passes.get(param, 0) + 1
        self._wb_passes[param] = passes
        if passes < self._wb_passes_per_step or not self._wb_overlap:
            return
        if param in self._wb_queued:
            raise GradientStateError(
                f"gradient of {self._wb_names[param]!r} was computed again before step(): "
                "call optimizer.step() (or synchronize()) after each backward, or raise "
                "backward_passes_per_step"
            )
        self._wb_add(param)
        if self._wb_open_bytes >= self._wb_bucket_bytes:
            self._wb_flush()

    def _wb_add(self, param: torch.Tensor) -> None:
        if param.grad is None:
            param.grad = torch.zeros_like(param)  # every rank must send every gradient
        self._wb_queued.add(param)
        if param.grad.is_sparse and not self._wb_sparse_as_dense:
            name = f"grads.sparse.{self._wb_names[param]}"
            ps = self._wb_process_set
            self._wb_sparse.append(
                (param, sparse_allreduce_async(param.grad, name, self._wb_op, ps))
            )
            return
        self._wb_open.append(param)
        self._wb_open_bytes += param.grad.numel() * param.grad.element_size()

    def _wb_flush(self) -> None:
        """Queue the open bucket: one fused async allreduce per device and dtype on the wire.

        CUDA gradients start their copy to pinned host memory here, on a side stream; the
        engine thread waits for it just before it reduces them (see ``staging.py``)."""
        by_kind: dict[tuple[torch.device, torch.dtype], _Bucket] = {}
        self._wb_open.sort(key=self._wb_order.__getitem__)  # the same order on every rank
        for param in self._wb_open:
            assert param.grad is not None
            grad = param.grad.to_dense() if param.grad.is_sparse else param.grad
            sent, ctx = self._wb_compression.compress(grad)
            bucket = by_kind.setdefault((sent.device, sent.dtype), _Bucket([], [], []))
            bucket.params.append(param)
            bucket.sent.append(sent)
            bucket.contexts.append(ctx)
        for bucket in by_kind.values():
            name = f"grads.{self._wb_names[bucket.params[0]]}+{len(bucket.params)}"
            dtype = bucket.sent[0].dtype
            if bucket.sent[0].is_cuda:
                bucket.staged = stage_out(bucket.sent)
                arrays, ready = bucket.staged.arrays, bucket.staged.wait
            else:
                arrays, ready = [to_numpy(t) for t in bucket.sent], None
            ps = self._wb_process_set
            bucket.handle = _grouped_async(arrays, self._wb_op, name, dtype, ps, ready)
            self._wb_buckets.append(bucket)
        self._wb_open, self._wb_open_bytes = [], 0

    def synchronize(self) -> None:
        """Queue the gradients not queued yet, wait for all, write the results back."""
        if not self._wb_reduces:
            self._wb_synchronized = True
            return
        for param in self._wb_names:
            if param.requires_grad and param not in self._wb_queued:
                self._wb_add(param)
        self._wb_flush()
        buckets, self._wb_buckets = self._wb_buckets, []
        self._wb_queued.clear()
        self._wb_passes.clear()
        with torch.no_grad():
            for bucket in buckets:
                results = bucket.handle.wait()
                for param, sent, ctx, result in zip(
                    bucket.params, bucket.sent, bucket.contexts, results, strict=True
                ):
                    back = to_device(result, sent) if sent.is_cuda else to_tensor(result, sent)
                    reduced = self._wb_compression.decompress(back, ctx)
                    assert param.grad is not None
                    if param.grad.is_sparse:  # sparse_as_dense: back to the layout it had
                        param.grad = reduced.reshape(param.shape).to_sparse()
                    else:
                        param.grad.copy_(reduced.view_as(param.grad))
                if bucket.staged is not None:
                    bucket.staged.release()
            sparse, self._wb_sparse = self._wb_sparse, []
            for param, wait in sparse:
                param.grad = wait()
        self._wb_synchronized = True

    @contextmanager
    def skip_synchronize(self) -> Iterator[None]:
        """``step()`` inside this block does not synchronize (call ``synchronize()`` first)."""
        self._wb_should_synchronize = False
        try:
            yield
        finally:
            self._wb_should_synchronize = True

    def step(self, closure: Any = None) -> Any:
        if self._wb_should_synchronize and self._wb_synchronized:
            warnings.warn(
                "optimizer.step() called without optimizer.skip_synchronize() context after "
                "optimizer.synchronize(): the gradients are not reduced again; wrap step() in "
                "`with optimizer.skip_synchronize():` to say so",
                stacklevel=2,
            )
        elif self._wb_should_synchronize:
            self.synchronize()
        self._wb_synchronized = False
        return self._wb_base.step(self, closure)

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self._wb_queued:
            raise GradientStateError(
                "optimizer.zero_grad() was called after loss.backward() but before "
                "optimizer.step() or optimizer.synchronize(); gradients are still in flight"
            )
        self._wb_base.zero_grad(self, set_to_none)


def _grouped_async(
    arrays: list[Any],
    op: ReduceOp,
    name: str,
    dtype: torch.dtype,
    process_set: ProcessSet,
    ready: Callable[[], None] | None = None,
) -> Any:
    """Queue one fused allreduce; ``ready`` (run on the engine thread first) waits until the
    arrays hold their values (a copy from the GPU still in flight)."""
    options = AllreduceOptions(op, bfloat16_bits=dtype is torch.bfloat16)
    request = Request(Kind.GROUPED_ALLREDUCE, name, arrays, options, ready=ready)
    return ops.submit(request, process_set)


def _parameter_names(
    optimizer: torch.optim.Optimizer, named_parameters: Iterable[tuple[str, torch.Tensor]] | None
) -> dict[torch.Tensor, str]:
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if named_parameters is None:
        return {p: f"param.{i}" for i, p in enumerate(params)}
    pairs = list(named_parameters)
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"named_parameters has duplicate names {dupes}; names must be unique")
    by_param = {p: n for n, p in pairs}
    missing = [i for i, p in enumerate(params) if p not in by_param]
    if missing:
        raise ValueError(
            f"named_parameters lacks {len(missing)} of the optimizer's parameters (positions "
            f"{missing[:5]}): pass model.named_parameters() of the model being optimized"
        )
    return {p: by_param[p] for p in params}


def DistributedOptimizer(
    optimizer: torch.optim.Optimizer,
    named_parameters: Iterable[tuple[str, torch.Tensor]] | None = None,
    compression: Any = Compression.none,
    backward_passes_per_step: int = 1,
    op: ReduceOp | str = ReduceOp.AVERAGE,
    *,
    sparse_as_dense: bool = False,
    process_set: ProcessSet = global_process_set,
    overlap: bool = True,
    bucket_bytes: int | None = None,
) -> Any:
    """Wrap ``optimizer`` so ``step()`` applies gradients averaged (``op``) over the ranks of
    ``process_set`` (default: all). On a rank outside ``process_set`` it is the plain
    optimizer (nothing is reduced), as in Horovod.

    The result is an instance of a subclass of ``optimizer``'s class sharing its state, so
    LR schedulers and ``state_dict()`` work as before. ``sparse_as_dense=True`` reduces sparse
    gradients as dense tensors (handing the optimizer sparse ones again); by default they are
    allgathered as indices and values. ``overlap=False`` queues every gradient at ``step()``
    instead of during backward (for comparison).
    """
    names = _parameter_names(optimizer, named_parameters)  # bad names: ValueError first
    ops.current()  # raises EngineNotInitializedError before init()
    if backward_passes_per_step < 1:
        raise ValueError(f"backward_passes_per_step must be >= 1, got {backward_passes_per_step}")
    reduce_op = ReduceOp.parse(op)
    base = type(optimizer)
    methods = {
        k: v
        for k, v in vars(_DistributedOptimizer).items()
        if k not in {"__dict__", "__weakref__", "__annotations__"}
    }
    cls: Any = type(base.__name__, (base,), {**methods, "_wb_base": base})
    wrapped: Any = cls.__new__(cls)
    wrapped.__dict__.update(optimizer.__dict__)
    wrapped._wb_setup(
        names,
        compression,
        backward_passes_per_step,
        reduce_op,
        overlap,
        int(os.environ.get(BUCKET_BYTES_ENV, DEFAULT_BUCKET_BYTES))
        if bucket_bytes is None
        else bucket_bytes,
        sparse_as_dense,
        process_set,
    )
    return wrapped
