"""Cheap image features for auto-labeling, label-error search and active learning.

Each image becomes one float32 row: its grayscale thumbnail (``size`` x ``size``, scaled to
[0, 1], row-major) followed by a colour histogram (8 bins per R, G, B channel, each channel's
bins summing to 1), so two images of the same shape but different colour differ.
Files and in-memory arrays go through the same PIL pipeline, so their rows line up.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from workbench.errors import InvalidInput
from workbench.progress import bar

HIST_BINS = 8  # per RGB channel
_CHUNK = 256  # images per thread-pool task: keeps scheduling overhead below decode time
_THREADED_PIXELS = 128 * 128  # smaller images are decoded on one thread


def feature_dim(size: int = 16) -> int:
    """Length of one feature row for thumbnails of ``size`` x ``size``."""
    return size * size + 3 * HIST_BINS


def image_features(
    paths: Sequence[str | Path], size: int = 16, progress: bool = False
) -> npt.NDArray[np.float32]:
    """Features (N, feature_dim(size)) of the image files, in the order given.

    Raises InvalidInput naming the first file that PIL cannot decode.
    """
    _check_size(size)
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    rows = np.empty((len(paths), feature_dim(size)), dtype=np.float32)
    if not paths:
        return rows
    pool = ThreadPoolExecutor(max_workers=_decode_workers(paths))
    meter = bar(len(paths), "image features", show=progress, unit="img")
    try:
        start = 0
        for block in pool.map(lambda chunk: _file_chunk(chunk, size), chunks):
            rows[start : start + len(block)] = block
            start += len(block)
            meter.update(len(block))
    finally:  # on a bad file, skip the chunks not yet started
        pool.shutdown(wait=True, cancel_futures=True)
        meter.__exit__()
    return rows


def array_features(images: npt.ArrayLike, size: int = 16) -> npt.NDArray[np.float32]:
    """Features of an (N, C, H, W) array, C = 1 (gray) or 3 (RGB), same layout as files.

    Float values must lie in [0, 1] (divide sklearn digits by 16); uint8 is taken as 0..255.
    """
    _check_size(size)
    pixels = _to_uint8_nhwc(images)
    rows = np.empty((len(pixels), feature_dim(size)), dtype=np.float32)
    for i, image in enumerate(pixels):
        rows[i] = pil_features(
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image), size
        )
    return rows


def pil_features(image: Image.Image, size: int = 16) -> npt.NDArray[np.float32]:
    """One feature row of a decoded PIL image (any mode)."""
    rgb = image.convert("RGB")
    counts = np.asarray(rgb.histogram(), dtype=np.float32).reshape(3, HIST_BINS, -1).sum(axis=2)
    hist = counts / (rgb.width * rgb.height)
    gray = rgb.convert("L").resize((size, size), Image.Resampling.BILINEAR)
    thumb = np.asarray(gray, dtype=np.float32).reshape(-1) / 255.0
    return np.concatenate([thumb, hist.reshape(-1)])


def _decode_workers(paths: Sequence[str | Path]) -> int:
    """Threads for decoding: one for tiny images, where threads only fight over the GIL.

    Pillow releases the GIL while decoding and resizing, which pays off for photos; for
    thumbnails the per-call overhead dominates (10k 8x8 PNGs: 1.3 s on one thread, 3 s on two).
    """
    try:
        with Image.open(paths[0]) as first:  # reads the header only
            pixels = first.width * first.height
    except (OSError, ValueError, SyntaxError):
        pixels = 0  # the worker reports the bad file with its name
    return 1 if pixels < _THREADED_PIXELS else min(8, os.cpu_count() or 1)


def _file_chunk(paths: Sequence[str | Path], size: int) -> npt.NDArray[np.float32]:
    block = np.empty((len(paths), feature_dim(size)), dtype=np.float32)
    for i, path in enumerate(paths):
        block[i] = _file_features(Path(path), size)
    return block


def _file_features(path: Path, size: int) -> npt.NDArray[np.float32]:
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size * 4, size * 4))  # JPEG: decode at reduced scale; else no-op
            return pil_features(image, size)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise InvalidInput(f"cannot read image {path}: {exc}") from exc


def _to_uint8_nhwc(images: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    array = np.asarray(images)
    if array.ndim != 4 or array.shape[1] not in (1, 3):
        raise InvalidInput(
            f"images must have shape (N, C, H, W) with C = 1 or 3, got {array.shape}"
        )
    if array.shape[2] == 0 or array.shape[3] == 0:
        raise InvalidInput(f"images must have non-empty height and width, got {array.shape}")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array.transpose(0, 2, 3, 1))
    if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(array.dtype, np.integer):
        raise InvalidInput(f"images must be float in [0, 1] or uint8, got dtype {array.dtype}")
    values = array.astype(np.float64)
    if not np.isfinite(values).all():
        raise InvalidInput("float images must be finite and lie in [0, 1]; found NaN or inf")
    if values.size and (values.min() < 0 or values.max() > 1):
        raise InvalidInput(
            "float images must lie in [0, 1] "
            f"(got min {values.min():.4g}, max {values.max():.4g}); scale them first"
        )
    return np.ascontiguousarray(np.rint(values * 255).astype(np.uint8).transpose(0, 2, 3, 1))


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise InvalidInput(f"size must be a positive integer (thumbnail side), got {size!r}")
