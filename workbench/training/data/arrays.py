"""An in-memory dataset: images (N, C, H, W) float32 and integer labels, plus class names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from workbench.training.data.augment import Augment
from workbench.training.data.sharding import shard_indices


@dataclass
class ArrayDataset:
    images: npt.NDArray[np.float32]  # (N, C, H, W)
    labels: npt.NDArray[np.int64]  # (N,)
    classes: list[str]
    name: str = "dataset"
    meta: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W), got {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"{self.name}: {len(self.images)} images but {len(self.labels)} labels"
            )
        if len(self.labels) and not 0 <= int(self.labels.min()) <= int(self.labels.max()) < len(
            self.classes
        ):
            raise ValueError(f"{self.name}: labels must index {len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.labels)

    def digest(self) -> str:
        """A short content hash: the one recorded in ``meta`` (a manifest's names the exported
        version; splits carry their whole dataset's), else one of classes, labels and images."""
        known = self.meta.get("digest", self.meta.get("content_hash"))
        if isinstance(known, str):
            return known[:32]
        h = hashlib.sha256("\0".join(self.classes).encode())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        h.update(np.ascontiguousarray(self.images).tobytes())
        return h.hexdigest()[:32]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    def split(self, test_fraction: float, seed: int = 0) -> tuple[ArrayDataset, ArrayDataset]:
        """A seeded train/test split (the same on every rank and every run)."""
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        n_test = max(1, round(len(self) * test_fraction))
        test, train = order[:n_test], order[n_test:]
        return self.subset(train, "train"), self.subset(test, "test")

    def subset(self, index: npt.NDArray[np.int64], part: str) -> ArrayDataset:
        return ArrayDataset(
            self.images[index], self.labels[index], self.classes, f"{self.name}/{part}", self.meta
        )

    def batches(
        self,
        batch_size: int,
        *,
        rank: int = 0,
        size: int = 1,
        epoch: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        augment: Augment | None = None,
    ) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]:
        """This rank's batches for ``epoch``: the last may be short; equal count on all ranks."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        index = shard_indices(len(self), rank, size, epoch=epoch, seed=seed, shuffle=shuffle)
        rng = np.random.default_rng([seed, epoch, rank, 1])
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            x = self.images[chunk]
            if augment is not None:
                x = augment(x, rng)
            yield x, self.labels[chunk]
