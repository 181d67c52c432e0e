"""Which samples each rank reads: disjoint shards, reshuffled deterministically per epoch."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool = True) -> npt.NDArray[np.int64]:
    """The order of all ``n`` samples in ``epoch``: the same on every rank and every run."""
    if not shuffle:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(n).astype(np.int64)


def shard_indices(
    n: int, rank: int, size: int, *, epoch: int = 0, seed: int = 0, shuffle: bool = True
) -> npt.NDArray[np.int64]:
    """Sample indices rank ``rank`` of ``size`` reads in ``epoch``.

    Shards are disjoint and equally long (synchronous training needs the same number of
    steps on every rank): the ``n % size`` samples left over after the epoch's shuffle
    are skipped this epoch; a new shuffle skips others next epoch.
    """
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"rank must be in [0, {size}) and size >= 1, got rank={rank} size={size}")
    if n < size:
        raise ValueError(
            f"{n} samples cannot be split over {size} ranks (one sample each at least)"
        )
    per_rank = n // size
    order = epoch_order(n, epoch, seed, shuffle)
    return order[rank * per_rank : (rank + 1) * per_rank]
