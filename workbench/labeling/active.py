"""Active learning: which unlabeled items a person should label next.

Uncertainty strategies score class probabilities (N, K); ``k-center`` (greedy core-set)
picks items that cover the embedding space. Label Studio's "Uncertainty sampling" serves
tasks by prediction score ascending, so predictions carry ``confidence_score`` (low = uncertain).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from workbench.errors import InvalidInput

Floats = npt.NDArray[np.float64]

UNCERTAINTY_STRATEGIES = ("least-confidence", "margin", "entropy")
BATCH_STRATEGIES = (*UNCERTAINTY_STRATEGIES, "k-center")
_ROW_SUM_TOLERANCE = 1e-3
_DISTANCE_BLOCK = 4_000_000  # distance-matrix elements computed at once (32 MB of float64)


def uncertainty(probs: npt.ArrayLike, strategy: str) -> npt.NDArray[np.float64]:
    """Per-row uncertainty in [0, 1], higher = more uncertain.

    least-confidence: 1 - max p; margin: 1 - (p1 - p2) of the two largest;
    entropy: -sum p log p / log K.
    """
    if strategy not in UNCERTAINTY_STRATEGIES:
        raise InvalidInput(
            f"unknown uncertainty strategy {strategy!r}; "
            f"choose one of {list(UNCERTAINTY_STRATEGIES)}"
        )
    p = _check_probs(probs)
    if strategy == "least-confidence":
        scores = 1.0 - p.max(axis=1)
    elif strategy == "margin":
        top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
        scores = 1.0 - (top2[:, 1] - top2[:, 0])
    else:
        plogp = p * np.log(np.clip(p, np.finfo(np.float64).tiny, None))  # 0 log 0 = 0
        scores = -plogp.sum(axis=1) / np.log(p.shape[1])
    clipped: Floats = np.clip(scores, 0.0, 1.0)
    return clipped


def confidence_score(probs: npt.ArrayLike, strategy: str) -> npt.NDArray[np.float64]:
    """Per-row confidence in [0, 1], low = uncertain: 1 - uncertainty (a prediction score)."""
    return 1.0 - uncertainty(probs, strategy)


def k_center(
    embeddings: npt.ArrayLike, labeled_mask: npt.ArrayLike, n: int
) -> npt.NDArray[np.intp]:
    """Greedy core-set: ``n`` unlabeled indices, each farthest from labeled + already picked.

    With nothing labeled the first pick is the point closest to the mean. Ties go to the
    lowest index. Returns fewer than ``n`` only when fewer unlabeled points exist.
    """
    x = _check_embeddings(embeddings)
    mask = np.asarray(labeled_mask)
    if mask.shape != (len(x),) or mask.dtype != np.bool_:
        raise InvalidInput(
            f"labeled_mask must be a bool array of shape ({len(x)},), got {mask.dtype} {mask.shape}"
        )
    _check_n(n)
    return _greedy_k_center(x, mask, min(n, int((~mask).sum())))


def select_batch(
    probs: npt.ArrayLike,
    n: int,
    strategy: str,
    embeddings: npt.ArrayLike | None = None,
    candidates: npt.ArrayLike | None = None,
) -> npt.NDArray[np.intp]:
    """Indices (into the rows of ``probs``) of the next ``n`` items to label, most useful first.

    ``candidates`` restricts the pool (default: every row); fewer than ``n`` are returned
    only when the pool is smaller. For ``k-center`` (needs ``embeddings``, one row per row
    of ``probs``) every row outside the pool counts as labeled, i.e. as an existing centre.
    """
    if strategy not in BATCH_STRATEGIES:
        raise InvalidInput(f"unknown strategy {strategy!r}; choose one of {list(BATCH_STRATEGIES)}")
    p = _check_probs(probs)
    _check_n(n)
    pool = _check_candidates(candidates, len(p))
    if strategy == "k-center":
        if embeddings is None:
            raise InvalidInput("strategy 'k-center' needs embeddings (one row per item)")
        x = _check_embeddings(embeddings)
        if len(x) != len(p):
            raise InvalidInput(f"embeddings have {len(x)} rows but probs have {len(p)}")
        labeled = np.ones(len(p), dtype=bool)
        labeled[pool] = False
        return _greedy_k_center(x, labeled, min(n, len(pool)))
    scores = uncertainty(p, strategy)[pool]
    order = np.argsort(-scores, kind="stable")  # pool is ascending, so ties go to lower index
    return pool[order[:n]]


def _greedy_k_center(x: Floats, labeled: npt.NDArray[np.bool_], n: int) -> npt.NDArray[np.intp]:
    pool = np.flatnonzero(~labeled)
    picks = np.empty(n, dtype=np.intp)
    if n == 0:
        return picks
    xp = x[pool]
    sq_norms = np.einsum("ij,ij->i", xp, xp)
    if labeled.any():
        nearest = _min_sq_distance(xp, sq_norms, x[labeled])
        first = int(np.argmax(nearest))
    else:  # nothing labeled: start at the point closest to the mean
        nearest = np.full(len(xp), np.inf)
        first = int(np.argmin(((xp - xp.mean(axis=0)) ** 2).sum(axis=1)))
    pick = first
    for step in range(n):
        picks[step] = pool[pick]
        to_pick = np.maximum(sq_norms - 2.0 * (xp @ xp[pick]) + sq_norms[pick], 0.0)
        nearest = np.minimum(nearest, to_pick)
        nearest[pick] = -np.inf  # never picked twice
        pick = int(np.argmax(nearest))  # first maximum: ties go to the lowest index
    return picks


def _min_sq_distance(x: Floats, sq_norms: Floats, centres: Floats) -> Floats:
    """Squared distance from each row of x to its nearest centre, in memory-bounded blocks."""
    nearest = np.full(len(x), np.inf)
    centre_norms = np.einsum("ij,ij->i", centres, centres)
    block = max(1, _DISTANCE_BLOCK // max(1, len(x)))
    for start in range(0, len(centres), block):
        d = x @ centres[start : start + block].T
        d *= -2.0
        d += centre_norms[None, start : start + block]
        np.minimum(nearest, d.min(axis=1), out=nearest)
    distances: Floats = np.maximum(nearest + sq_norms, 0.0)
    return distances  # ||x||^2 is the same for every centre


def _check_probs(probs: npt.ArrayLike) -> Floats:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InvalidInput(f"probs must have shape (N, K) with K >= 2 classes, got {p.shape}")
    if not np.isfinite(p).all() or (p < 0).any():
        raise InvalidInput("probs must be finite and non-negative")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_TOLERANCE)
    if bad.size:
        raise InvalidInput(
            f"each row of probs must sum to 1; row {bad[0]} sums to {sums[bad[0]]:.6g}"
        )
    return p


def _check_embeddings(embeddings: npt.ArrayLike) -> Floats:
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise InvalidInput(f"embeddings must have shape (N, D) with D >= 1, got {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInput("embeddings must be finite (no NaN or inf)")
    return x


def _check_n(n: int) -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 1:
        raise InvalidInput(f"n (items to select) must be a positive integer, got {n!r}")


def _check_candidates(candidates: npt.ArrayLike | None, total: int) -> npt.NDArray[np.intp]:
    if candidates is None:
        return np.arange(total)
    pool = np.asarray(candidates)
    if pool.size == 0:
        return np.empty(0, dtype=np.intp)
    if pool.ndim != 1 or not np.issubdtype(pool.dtype, np.integer):
        raise InvalidInput(
            f"candidates must be a 1-D list of row indices, got {pool.dtype} {pool.shape}"
        )
    if pool.min() < 0 or pool.max() >= total:
        raise InvalidInput(
            f"candidates must be row indices in [0, {total}), got {pool.min()}..{pool.max()}"
        )
    unique: npt.NDArray[np.intp] = np.unique(pool).astype(np.intp)
    if len(unique) != len(pool):
        raise InvalidInput("candidates must not repeat an index")
    return unique
