"""The training spec: what ``workbench train`` and every rank of a training job read.

    name: digits-cnn
    experiment: digits
    model: {name: small_cnn, params: {width: 32}}
    data: {source: digits, test_fraction: 0.2}
    train: {epochs: 10, batch_size: 32, optimizer: sgd, lr: 0.05, momentum: 0.9}

:func:`check_spec` does every check that can fail (model, hyper-parameters, data source,
manifest) without importing a framework, so a bad spec fails before any rank starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import InvalidInput, NotFound
from workbench.training.models import get_model_entry
from workbench.validation import invalid_input, read_mapping_file


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Model):
    name: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)


class DataSpec(_Model):
    source: Literal["digits", "image_folder", "manifest", "dataset", "synthetic"] = "digits"
    path: str | None = Field(None, description="image folder or manifest.json")
    dataset: str | None = Field(
        None, description="a dataset version from labeling, e.g. digits-labels@v3"
    )
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    image_size: tuple[int, int] | None = None
    grayscale: bool = False
    samples: int = Field(1024, ge=2, description="synthetic only")
    shape: tuple[int, int, int] = Field((3, 32, 32), description="synthetic only: C, H, W")
    classes: int = Field(10, ge=2, description="synthetic only")

    @model_validator(mode="after")
    def _dataset_implies_source(self) -> DataSpec:
        if self.dataset is not None and "source" not in self.model_fields_set:
            self.source = "dataset"
        if (self.source == "dataset") != (self.dataset is not None):
            raise ValueError("data.dataset and data.source='dataset' go together")
        return self


class AugmentSpec(_Model):
    hflip: bool = False
    crop_padding: int = Field(0, ge=0, le=64)
    noise_std: float = Field(0.0, ge=0.0)


class SwapSpec(_Model):
    tier: Literal["none", "host", "disk"] = "host"
    budget_bytes: int | None = Field(None, ge=1)
    min_bytes: int = Field(1 << 20, ge=0)
    keep_resident: int | None = Field(2, ge=0)
    prefetch: int = Field(2, ge=0)


class TrainSpec(_Model):
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=1_000_000, description="per rank")
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    lr: float = Field(0.05, gt=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    seed: int = 0
    augment: AugmentSpec = Field(default_factory=AugmentSpec)


class TrainingSpec(_Model):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    experiment: str = Field("Default", min_length=1, max_length=200)
    model: ModelSpec
    data: DataSpec = Field(default_factory=DataSpec)
    train: TrainSpec = Field(default_factory=TrainSpec)
    swap: SwapSpec | None = None
    checkpoint_dir: str | None = Field(None, description="default: $WORKBENCH_CHECKPOINT_DIR")
    register_model: str | None = Field(None, description="MLflow registered model name")
    parent_run_id: str | None = Field(None, description="MLflow parent run (model selection)")


def parse_spec(raw: dict[str, Any]) -> TrainingSpec:
    try:
        return TrainingSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise invalid_input(exc, "training spec") from None


def load_spec(path: Path) -> TrainingSpec:
    """A spec from a YAML or JSON file, fully checked (see :func:`check_spec`)."""
    spec = parse_spec(read_mapping_file(path, "training spec"))
    check_spec(spec, base=path.parent)
    return spec


def data_path(spec: TrainingSpec, base: Path | None = None) -> Path | None:
    if spec.data.path is None:
        return None
    path = Path(spec.data.path).expanduser()
    return path if path.is_absolute() or base is None else (base / path).resolve()


def check_spec(spec: TrainingSpec, base: Path | None = None) -> None:
    """Everything that can be checked before ranks start: model, hyper-parameters, data."""
    try:
        entry = get_model_entry(spec.model.name)
    except NotFound as exc:  # a spec naming no model of the zoo is a bad spec, not a lookup
        raise InvalidInput(f"model: {exc}") from None
    entry.validate(spec.model.params)
    if entry.task != "classification":  # every data source has one label per image
        raise InvalidInput(
            f"model: {entry.name!r} does {entry.task}, but data.source={spec.data.source!r} "
            "has one label per image: pick a classification model"
        )
    source, path = spec.data.source, data_path(spec, base)
    if source in ("image_folder", "manifest") and path is None:
        raise InvalidInput(f"training spec: data.path is required for data.source={source!r}")
    if source == "image_folder" and path is not None and not path.is_dir():
        raise InvalidInput(f"training spec: data.path {path} is not a directory")
    if source == "manifest" and path is not None:
        from workbench.training.data.manifest import load_manifest

        load_manifest(path, verify_files=True)
    if source == "dataset" and spec.data.dataset is not None:
        from workbench.training.data.manifest import load_manifest
        from workbench.training.data.versions import dataset_registry

        registry = dataset_registry()
        load_manifest(registry.manifest_path(spec.data.dataset, latest_ok=False))
