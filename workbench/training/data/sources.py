"""Where datasets come from: scikit-learn digits (shipped), image folders, synthetic data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from workbench.errors import InvalidInput, NotFound
from workbench.training.data.arrays import ArrayDataset

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def digits() -> ArrayDataset:
    """scikit-learn's 1,797 8x8 handwritten digits (shipped with the package, no download)."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = (raw.images / 16.0).astype(np.float32)[:, None, :, :]
    return ArrayDataset(images, raw.target.astype(np.int64), [str(d) for d in range(10)], "digits")


def synthetic(n: int, shape: tuple[int, int, int], num_classes: int, seed: int = 0) -> ArrayDataset:
    """Random images and labels, for benchmarks (learning nothing is expected)."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, *shape), dtype=np.float32)
    labels = rng.integers(0, num_classes, n).astype(np.int64)
    return ArrayDataset(images, labels, [str(c) for c in range(num_classes)], "synthetic")


def load_images(
    paths: list[Path], image_size: tuple[int, int] | None, grayscale: bool, where: Path
) -> npt.NDArray[np.float32]:
    """Images as float32 (N, C, H, W) in [0, 1]; all must end up the same size."""
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        try:
            with Image.open(path) as opened:
                img = opened.convert("L" if grayscale else "RGB")
                if image_size is not None:
                    img = img.resize(image_size[::-1])
                arr = np.asarray(img, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as exc:
            raise InvalidInput(f"{path} is not a readable image: {exc}") from exc
        images.append(arr[None] if grayscale else arr.transpose(2, 0, 1))
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise InvalidInput(f"images in {where} differ in size {sorted(shapes)}: pass image_size")
    if not images:
        return np.zeros((0, 1 if grayscale else 3, 1, 1), np.float32)
    return np.ascontiguousarray(np.stack(images))


def image_folder(
    root: Path, image_size: tuple[int, int] | None = None, grayscale: bool = False
) -> ArrayDataset:
    """``root/<class>/<image>``: one folder per class (sorted names = class indices)."""
    if not root.is_dir():
        raise NotFound(f"image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InvalidInput(f"image folder {root} has no class sub-folders (root/<class>/<image>)")
    paths, labels = [], []
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                paths.append(path)
                labels.append(label)
    if not paths:
        raise InvalidInput(
            f"image folder {root} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        )
    images = load_images(paths, image_size, grayscale, root)
    return ArrayDataset(images, np.asarray(labels, np.int64), classes, root.name)
