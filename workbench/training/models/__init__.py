"""The model zoo: PyTorch and Keras models by name, with typed hyper-parameters."""

from workbench.training.models.registry import (
    ModelEntry,
    build_model,
    describe_models,
    get_model_entry,
    validate_model,
)

__all__ = ["ModelEntry", "build_model", "describe_models", "get_model_entry", "validate_model"]
