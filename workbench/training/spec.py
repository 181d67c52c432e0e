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
    """Which model of the zoo to train, and its hyper-parameters."""

    name: str = Field(
        min_length=1, title="Model", description="A model of the zoo (GET /workbench/api/models)."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        title="Hyper-parameters",
        description="The model's hyper-parameters; sizes left out are taken from the data.",
    )


class DataSpec(_Model):
    """What the model trains and is tested on."""

    source: Literal["digits", "image_folder", "manifest", "dataset", "synthetic"] = Field(
        "digits",
        title="Data source",
        description="digits (scikit-learn's, shipped), an image folder (one sub-folder per "
        "class), a manifest.json, a labeled dataset version, or synthetic images.",
    )
    path: str | None = Field(
        None,
        title="Path",
        description="The image folder or manifest.json (image_folder and manifest sources); "
        "relative to the working directory.",
    )
    dataset: str | None = Field(
        None,
        title="Dataset version",
        description="A dataset version from labeling, e.g. digits-labels@v3 (dataset source).",
    )
    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, title="Test fraction", description="Share of the data held out."
    )
    image_size: tuple[int, int] | None = Field(
        None,
        title="Image size",
        description="Resize every image to (height, width); needed when image sizes differ.",
    )
    grayscale: bool = Field(
        False, title="Grayscale", description="Read images as one channel instead of RGB."
    )
    samples: int = Field(
        1024, ge=2, title="Samples", description="How many images (synthetic source only)."
    )
    shape: tuple[int, int, int] = Field(
        (3, 32, 32),
        title="Image shape",
        description="Channels, height, width of each image (synthetic source only).",
    )
    classes: int = Field(
        10, ge=2, title="Classes", description="How many classes (synthetic source only)."
    )

    @model_validator(mode="after")
    def _dataset_implies_source(self) -> DataSpec:
        if self.dataset is not None and "source" not in self.model_fields_set:
            self.source = "dataset"
        if (self.source == "dataset") != (self.dataset is not None):
            raise ValueError("data.dataset and data.source='dataset' go together")
        return self


class AugmentSpec(_Model):
    """Random changes to each training batch (all off by default)."""

    hflip: bool = Field(
        False, title="Horizontal flip", description="Mirror a random half of the images."
    )
    crop_padding: int = Field(
        0,
        ge=0,
        le=64,
        title="Crop padding",
        description="Pad by this many pixels and crop back at a random offset (0: off).",
    )
    noise_std: float = Field(
        0.0, ge=0.0, title="Noise", description="Standard deviation of added gaussian noise."
    )


class SwapSpec(_Model):
    """Tensor swapping: saved activations leave the device in forward, come back for backward."""

    tier: Literal["none", "host", "disk"] = Field(
        "host",
        title="Swap to",
        description="host memory, files on disk, or none (only count the bytes).",
    )
    budget_bytes: int | None = Field(
        None,
        ge=1,
        title="Budget (bytes)",
        description="Keep resident activation bytes under this; the oldest are swapped first.",
    )
    min_bytes: int = Field(
        1 << 20,
        ge=0,
        title="Smallest swapped (bytes)",
        description="Tensors smaller than this stay resident.",
    )
    keep_resident: int | None = Field(
        2,
        ge=0,
        title="Keep resident",
        description="The newest saved tensors kept resident in forward (empty: no count limit).",
    )
    prefetch: int = Field(
        2,
        ge=0,
        title="Prefetch",
        description="In backward, how many swapped tensors ahead are brought back.",
    )


class TrainSpec(_Model):
    """How the model is trained."""

    epochs: int = Field(10, ge=1, le=100_000, title="Epochs", description="Passes over the data.")
    batch_size: int = Field(
        32,
        ge=1,
        le=1_000_000,
        title="Batch size",
        description="Images per step on each rank (the global batch is this times the ranks).",
    )
    optimizer: Literal["sgd", "adam", "adamw"] = Field(
        "sgd", title="Optimizer", description="sgd (with momentum), adam or adamw."
    )
    lr: float = Field(0.05, gt=0.0, title="Learning rate", description="The optimizer's step size.")
    momentum: float = Field(
        0.9, ge=0.0, lt=1.0, title="Momentum", description="SGD momentum (sgd only)."
    )
    weight_decay: float = Field(
        0.0, ge=0.0, title="Weight decay", description="L2 penalty on the weights."
    )
    seed: int = Field(
        0, title="Seed", description="Seeds weight init, the split, shuffling and augmentation."
    )
    augment: AugmentSpec = Field(
        default_factory=AugmentSpec,
        title="Augmentation",
        description="Random flips, crops and noise applied to training batches.",
    )


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"  # run and study names (MLflow, files)


class TrainingSpec(_Model):
    """One training run: a model of the zoo, its data, and how to train it."""

    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=NAME_PATTERN,
        title="Run name",
        description="The MLflow run's name (letters, digits, '.', '_', '-').",
    )
    experiment: str = Field(
        "Default",
        min_length=1,
        max_length=200,
        title="Experiment",
        description="The MLflow experiment the run is logged to (created if new).",
    )
    model: ModelSpec = Field(
        title="Model", description="The model of the zoo and its hyper-parameters."
    )
    data: DataSpec = Field(
        default_factory=DataSpec, title="Data", description="Where the images and labels come from."
    )
    train: TrainSpec = Field(
        default_factory=TrainSpec,
        title="Training",
        description="Epochs, batch size, optimizer and learning rate.",
    )
    swap: SwapSpec | None = Field(
        None, title="Tensor swapping", description="Off unless given. " + (SwapSpec.__doc__ or "")
    )
    checkpoint_dir: str | None = Field(
        None,
        title="Checkpoint folder",
        description="Where each epoch's checkpoint goes (default: the job's, "
        "$WORKBENCH_CHECKPOINT_DIR).",
    )
    register_model: str | None = Field(
        None,
        title="Register as",
        description="Register the trained model under this MLflow model name.",
    )
    parent_run_id: str | None = Field(
        None,
        title="Parent run",
        description="The MLflow run this one nests under (set by model selection).",
    )


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
