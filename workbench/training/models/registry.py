"""Model registry: a name -> builder with typed, documented hyper-parameters.

    from workbench.training.models import build_model, describe_models
    model = build_model("resnet18", num_classes=10, in_channels=1)

Hyper-parameters are a pydantic model per entry, so a wrong name or type fails with a
message naming the model, the field and the rule before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic

from workbench.errors import NotFound
from workbench.validation import invalid_input


@dataclass(frozen=True)
class ModelEntry:
    name: str
    framework: str  # "torch" | "keras"
    description: str
    params: type[pydantic.BaseModel]
    builder: Callable[..., Any]
    task: str = "classification"  # or "segmentation": what its outputs are

    def validate(self, hparams: dict[str, Any]) -> pydantic.BaseModel:
        try:
            return self.params.model_validate(hparams)
        except pydantic.ValidationError as exc:
            raise invalid_input(exc, f"model {self.name!r}", root="hyper-parameters") from None


_REGISTRY: dict[str, ModelEntry] = {}


def register(entry: ModelEntry) -> ModelEntry:
    if entry.name in _REGISTRY:
        raise ValueError(f"model {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry
    return entry


def _load_all() -> None:
    # Importing the zoo modules registers their entries (torch/keras import lazily inside).
    from workbench.training.models import keras_zoo, torch_zoo  # noqa: F401


def get_model_entry(name: str) -> ModelEntry:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise NotFound(f"unknown model {name!r}; known models: {known}") from None


def validate_model(name: str, hparams: dict[str, Any] | None = None) -> pydantic.BaseModel:
    """Check ``hparams`` for model ``name`` without building it (cheap, no framework import)."""
    return get_model_entry(name).validate(hparams or {})


def build_model(name: str, **hparams: Any) -> Any:
    entry = get_model_entry(name)
    params = entry.validate(hparams)
    return entry.builder(**params.model_dump())


def describe_models() -> list[dict[str, Any]]:
    """Every model with its framework, description and hyper-parameter schema (for the UI)."""
    _load_all()
    return [
        {
            "name": e.name,
            "framework": e.framework,
            "description": e.description,
            "task": e.task,
            "hyperparameters": e.params.model_json_schema(),
        }
        for e in sorted(_REGISTRY.values(), key=lambda e: e.name)
    ]
