"""Datasets for training: digits (shipped), image folders, synthetic; per-rank sharding."""

from workbench.training.data.arrays import ArrayDataset
from workbench.training.data.augment import Augment
from workbench.training.data.manifest import (
    Manifest,
    load_manifest,
    manifest_dataset,
    write_manifest,
)
from workbench.training.data.sharding import epoch_order, shard_indices
from workbench.training.data.sources import digits, image_folder, synthetic

__all__ = [
    "ArrayDataset",
    "Augment",
    "Manifest",
    "digits",
    "epoch_order",
    "image_folder",
    "load_manifest",
    "manifest_dataset",
    "shard_indices",
    "synthetic",
    "write_manifest",
]
