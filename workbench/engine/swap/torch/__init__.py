"""PyTorch tensor swapping: a context manager and a module wrapper over saved-tensor hooks."""

from workbench.engine.swap.torch.hooks import SwappedModule, activations, wrap
from workbench.engine.swap.torch.search import max_batch
from workbench.engine.swap.torch.session import SavedTensorModifiedError

__all__ = [
    "SavedTensorModifiedError",
    "SwappedModule",
    "activations",
    "max_batch",
    "wrap",
]
