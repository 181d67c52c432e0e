"""Swapping through saved-tensor hooks: a context manager and a module wrapper."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.stats import SwapStats
from workbench.engine.swap.torch.session import SwapSession


@contextmanager
def activations(
    policy: SwapPolicy | None = None, *, keep: Iterable[torch.Tensor] = ()
) -> Iterator[SwapStats]:
    """Swap the activations saved by the forward pass run inside this block.

    ``keep``: tensors the caller holds anyway (e.g. the input batch); swapping them would
    move bytes without freeing any. Parameters are never swapped. Backward may run after
    the block; the stats yielded keep counting through it.
    """
    session = SwapSession(policy or SwapPolicy(), {t.untyped_storage().data_ptr() for t in keep})
    try:
        with torch.autograd.graph.saved_tensors_hooks(session.pack, session.unpack):
            yield session.stats
    except BaseException:
        session.close()
        raise
    session.end_forward()


class SwappedModule(torch.nn.Module):
    """``module`` whose forward passes swap their saved activations under ``policy``."""

    def __init__(self, module: torch.nn.Module, policy: SwapPolicy) -> None:
        super().__init__()
        self.module = module
        self.policy = policy
        self.last_stats: SwapStats | None = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        owned = [*self.module.parameters(), *self.module.buffers()]
        inputs = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        with activations(self.policy, keep=[*owned, *inputs]) as stats:
            self.last_stats = stats
            return self.module(*args, **kwargs)


def wrap(model: torch.nn.Module, policy: SwapPolicy | None = None) -> SwappedModule:
    """Wrap ``model`` so every forward pass swaps its saved activations."""
    return SwappedModule(model, policy or SwapPolicy())
