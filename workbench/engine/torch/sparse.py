"""Allreduce of sparse COO tensors: every rank's indices and values are allgathered.

The result is a sparse tensor holding every rank's entries (duplicates are summed when it
is coalesced or made dense), so ``result.to_dense()`` equals the allreduce of the dense
tensors. Moving only the non-zeros pays off when few rows are touched (embeddings).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from workbench.engine.ops import global_process_set
from workbench.engine.process_sets import ProcessSet
from workbench.engine.reduce_ops import ReduceOp
from workbench.engine.torch.movement_ops import allgather_async
from workbench.engine.torch.mpi_ops import Average, Sum, reduce_op, set_size


def sparse_allreduce_async(
    tensor: torch.Tensor,
    name: str | None = None,
    op: ReduceOp | str | None = Average,
    process_set: ProcessSet = global_process_set,
) -> Callable[[], torch.Tensor]:
    """Queue the allreduce (``Average`` or ``Sum``) of a sparse COO ``tensor``; returns a
    function that waits and gives the reduced sparse tensor (coalesced)."""
    the_op = reduce_op(op, None, Average)
    if the_op not in (Average, Sum):
        raise ValueError(f"sparse_allreduce_async supports Average and Sum, not {the_op.value}")
    if not tensor.is_sparse:
        raise ValueError("sparse_allreduce_async takes a sparse COO tensor (tensor.to_sparse())")
    coalesced = tensor.coalesce()
    base = name or "sparse_allreduce"
    # indices are (ndim, nnz): gathered along nnz as rows of their transpose
    indices = allgather_async(coalesced.indices().t().contiguous(), f"{base}.indices", process_set)
    values = allgather_async(coalesced.values().contiguous(), f"{base}.values", process_set)
    shape = tensor.shape

    def wait() -> torch.Tensor:
        gathered_indices = indices.wait().t()
        gathered_values = values.wait()
        if the_op is Average:
            gathered_values = gathered_values / set_size(process_set)
        result = torch.sparse_coo_tensor(gathered_indices, gathered_values, shape)
        return result.coalesce()

    return wait
