"""What the swap movers work on: one storage's entry and the session that owns it."""

from __future__ import annotations

import weakref
from typing import Any

import torch

from workbench.engine.swap.policy import SwapPolicy
from workbench.engine.swap.residency import Entry, Residency


class TorchEntry(Entry):
    """The bytes of one storage that saved tensors refer to, wherever they are now."""

    __slots__ = ("device", "handles", "host", "key", "modified", "origin", "ready", "storage",
                 "tensor", "version")  # fmt: skip

    def __init__(self, index: int, tensor: torch.Tensor) -> None:
        storage = tensor.untyped_storage()
        super().__init__(index, storage.nbytes())
        self.key = (storage.data_ptr(), str(tensor.device))
        self.tensor: torch.Tensor | None = tensor  # the first saved tensor, until moved out
        self.origin = weakref.ref(tensor)  # alive => its storage (and address) is alive
        self.storage: torch.UntypedStorage | None = storage
        self.device = tensor.device
        self.version = tensor._version
        self.handles = 0
        self.modified = False
        self.host: torch.Tensor | None = None  # pinned copy (CUDA tiers)
        self.ready: Any = None  # CUDA event: bytes are back on the device


class TorchResidency(Residency[TorchEntry]):
    """Residency bookkeeping plus the CUDA side streams copies run on (one per device)."""

    def __init__(self, policy: SwapPolicy) -> None:
        super().__init__(policy)
        self.side_streams: dict[int, Any] = {}
