"""The train/test datasets a spec names, and model hyper-parameters filled in from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.training.data import ArrayDataset, digits, image_folder, manifest_dataset, synthetic
from workbench.training.data.versions import dataset_registry
from workbench.training.models import get_model_entry
from workbench.training.spec import TrainingSpec, data_path


def load_datasets(spec: TrainingSpec, base: Path) -> tuple[ArrayDataset, ArrayDataset]:
    """The spec's data, split the same way on every rank (seeded)."""
    d = spec.data
    path = data_path(spec, base)
    if d.source == "digits":
        data = digits()
    elif d.source == "synthetic":
        data = synthetic(d.samples, d.shape, d.classes, seed=spec.train.seed)
    elif d.source == "image_folder":
        assert path is not None
        data = image_folder(path, d.image_size, d.grayscale)
    elif d.source == "dataset":
        assert d.dataset is not None
        manifest = dataset_registry().manifest_path(d.dataset, latest_ok=False)
        data = manifest_dataset(manifest, d.image_size, d.grayscale)
    else:
        assert path is not None
        data = manifest_dataset(path, d.image_size, d.grayscale)
    data.meta.setdefault("digest", data.digest())  # the splits name the whole dataset
    return data.split(d.test_fraction, seed=spec.train.seed)


def model_params(spec: TrainingSpec, data: ArrayDataset) -> dict[str, Any]:
    """The spec's hyper-parameters, plus input/output sizes taken from the data where the
    model has such a hyper-parameter and the spec left it out."""
    fields = get_model_entry(spec.model.name).params.model_fields
    c, h, w = data.image_shape
    derived = {
        "num_classes": len(data.classes),
        "in_channels": c,
        "in_features": c * h * w,
        "input_shape": (h, w, c),
    }
    params = {k: v for k, v in derived.items() if k in fields}
    params.update(spec.model.params)
    return params
