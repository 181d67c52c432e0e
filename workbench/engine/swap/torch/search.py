"""The largest batch whose forward + backward fits a memory budget, with or without swapping."""

from __future__ import annotations

from collections.abc import Callable

import torch

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.spill import leave_arena, spill_arena
from workbench.engine.swap.torch.hooks import activations


def _fits(
    model: torch.nn.Module,
    make_batch: Callable[[int], torch.Tensor],
    batch: int,
    budget_bytes: int,
    policy: SwapPolicy,
) -> bool:
    x = make_batch(batch)
    model.zero_grad(set_to_none=True)
    try:
        with activations(policy, keep=[x]) as stats:
            loss = model(x).float().sum()
        loss.backward()
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        model.zero_grad(set_to_none=True)
    return stats.peak_resident_bytes <= budget_bytes


def max_batch(
    model: torch.nn.Module,
    make_batch: Callable[[int], torch.Tensor],
    budget_bytes: int,
    *,
    policy: SwapPolicy | None = None,
    limit: int = 4096,
) -> int:
    """Largest batch size <= ``limit`` whose peak resident saved activations stay within
    ``budget_bytes`` (and that does not run out of CUDA memory); 0 if even 1 does not fit.

    ``policy=None`` measures without swapping; pass e.g. ``SwapPolicy.auto(budget_bytes)``
    to measure with it. ``make_batch(n)`` returns an input batch of ``n`` samples.
    """
    measured = policy or SwapPolicy(tier="none")

    def fits(n: int) -> bool:
        return _fits(model, make_batch, n, budget_bytes, measured)

    try:
        if not fits(1):
            return 0
        low, high = 1, 2
        while high <= limit and fits(high):
            low, high = high, high * 2
        high = min(high, limit + 1)
        while high - low > 1:  # fits(low) and not fits(high)
            mid = (low + high) // 2
            if fits(mid):
                low = mid
            else:
                high = mid
        return low
    finally:
        if measured.tier == "disk":  # the largest tries grew the spill arena: give it back
            arena = spill_arena(measured.spill_dir)
            arena.trim()
            leave_arena(arena)
