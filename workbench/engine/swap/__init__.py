"""Tensor swapping (large-model support): saved activations leave the device during
forward and come back, prefetched, shortly before backward needs them.

    from workbench.engine import swap

    policy = swap.SwapPolicy(tier="disk", min_bytes=1 << 20, prefetch=2)
    with swap.activations(policy) as stats:     # PyTorch
        loss = model(x).sum()
    loss.backward()
    model = swap.wrap(model, swap.SwapPolicy.auto(budget_bytes=2 << 30))

``SwapPolicy``/``SwapStats`` need no framework; the PyTorch API (``activations``, ``wrap``,
``max_batch``) is imported on first use so ``import workbench.engine.swap`` stays light.
"""

from __future__ import annotations

from typing import Any

from workbench.engine.swap.policy import SwapPolicy, SwapPolicyError
from workbench.engine.swap.spill import SpillError
from workbench.engine.swap.stats import SwapEvent, SwapStats

_TORCH_API = {"activations", "wrap", "max_batch", "SwappedModule"}

__all__ = [
    "SpillError",
    "SwapEvent",
    "SwapPolicy",
    "SwapPolicyError",
    "SwapStats",
    *sorted(_TORCH_API),
]


def __getattr__(name: str) -> Any:
    if name in _TORCH_API:
        from workbench.engine.swap import torch as torch_api

        return getattr(torch_api, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
