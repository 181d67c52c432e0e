"""Image features from real PNG files and arrays: layout, colour, errors, speed."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from workbench.errors import InvalidInput
from workbench.labeling.features import array_features, feature_dim, image_features


@pytest.fixture(scope="module")
def digit_images() -> np.ndarray:
    """sklearn digits as uint8 gray images (N, 8, 8), 0..255."""
    return np.rint(load_digits().images / 16.0 * 255).astype(np.uint8)


def write_pngs(folder: Path, images: np.ndarray) -> list[Path]:
    paths = []
    for i, image in enumerate(images):
        path = folder / f"img-{i:05d}.png"
        Image.fromarray(image).save(path)
        paths.append(path)
    return paths


def test_png_features_have_the_documented_layout(tmp_path: Path, digit_images):
    paths = write_pngs(tmp_path, digit_images[:12])
    rows = image_features(paths, size=16)
    assert rows.dtype == np.float32 and rows.shape == (12, 16 * 16 + 24) == (12, feature_dim(16))
    assert (rows >= 0).all() and (rows <= 1).all()
    thumb, hist = rows[:, :256], rows[:, 256:].reshape(12, 3, 8)
    assert np.allclose(hist.sum(axis=2), 1.0)  # each channel's histogram is normalised
    assert np.allclose(hist[:, 0], hist[:, 1])  # gray image: R, G, B histograms agree
    dark = (digit_images[:12].reshape(12, -1) < 32).mean(axis=1)
    assert np.allclose(hist[:, 0, 0], dark)  # bin 0 counts pixels 0..31
    # Upscaled 8x8 -> 16x16 thumbnail keeps the image: its 2x2 block means match the original.
    blocks = thumb.reshape(12, 8, 2, 8, 2).mean(axis=(2, 4))
    assert np.abs(blocks - digit_images[:12] / 255.0).mean() < 0.08
    assert image_features(paths[:3], size=4).shape == (3, 16 + 24)


def test_arrays_and_files_give_the_same_rows(tmp_path: Path, digit_images):
    paths = write_pngs(tmp_path, digit_images[:20])
    from_files = image_features(paths)
    from_arrays = array_features(digit_images[:20, None] / 255.0)
    assert np.allclose(from_files, from_arrays, atol=1e-6)
    assert np.allclose(array_features(digit_images[:20, None]), from_files)  # uint8 input


def test_colour_separates_images_with_the_same_gray(tmp_path: Path):
    red = np.zeros((10, 10, 3), dtype=np.uint8)
    red[..., 0] = 255
    blue = np.zeros((10, 10, 3), dtype=np.uint8)
    blue[..., 2] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    Image.fromarray(blue).save(tmp_path / "blue.jpg", quality=95)
    rows = image_features([tmp_path / "red.png", tmp_path / "blue.jpg"], size=4)
    hist = rows[:, 16:].reshape(2, 3, 8)
    assert hist[0, 0, 7] == 1.0 and hist[0, 2, 0] == 1.0  # red: R all high, B all low
    assert hist[1, 2, 7] > 0.9 and hist[1, 0, 0] > 0.9  # blue (lossy JPEG)
    assert np.abs(rows[0, 16:] - rows[1, 16:]).sum() > 3.0
    rgb = np.stack([red, blue]).transpose(0, 3, 1, 2) / 255.0
    assert np.allclose(array_features(rgb, size=4)[0], rows[0])


def test_unreadable_file_is_named(tmp_path: Path, digit_images):
    paths = write_pngs(tmp_path, digit_images[:5])
    bogus = tmp_path / "notes.png"
    bogus.write_text("not an image")
    with pytest.raises(InvalidInput, match=r"notes\.png"):
        image_features([*paths[:2], bogus, *paths[2:]])
    with pytest.raises(InvalidInput, match=r"missing\.png"):
        image_features([tmp_path / "missing.png"])


def test_photo_sized_images_decode_on_threads_in_order(tmp_path: Path):
    rng = np.random.default_rng(0)
    photos = (rng.random((6, 200, 240, 3)) * 255).astype(np.uint8)  # above the threading size
    paths = []
    for i, photo in enumerate(photos):
        paths.append(tmp_path / f"photo-{i}.png")
        Image.fromarray(photo).save(paths[-1])
    rows = image_features(paths * 100, size=8)  # 600 files: several chunks
    expected = array_features(photos.transpose(0, 3, 1, 2), size=8)
    assert np.allclose(rows, np.tile(expected, (100, 1)), atol=1e-6)
    (tmp_path / "broken.png").write_bytes(paths[0].read_bytes()[:200])  # truncated
    with pytest.raises(InvalidInput, match=r"broken\.png"):
        image_features([*paths, tmp_path / "broken.png"], size=8)


def test_empty_list_gives_an_empty_matrix():
    assert image_features([], size=8).shape == (0, 64 + 24)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((2, 8, 8)), r"\(N, C, H, W\)"),
        (np.zeros((2, 2, 8, 8)), "C = 1 or 3"),
        (np.full((2, 1, 8, 8), 16.0), r"\[0, 1\]"),
        (np.full((2, 1, 8, 8), np.nan), r"\[0, 1\]"),
    ],
)
def test_bad_arrays_are_rejected(images, message):
    with pytest.raises(InvalidInput, match=message):
        array_features(images)


def test_bad_size_is_rejected(tmp_path: Path):
    with pytest.raises(InvalidInput, match="size"):
        image_features([], size=0)


def test_ten_thousand_small_pngs_take_seconds(tmp_path: Path, digit_images):
    images = np.concatenate([digit_images] * 6)[:10_000]
    paths = write_pngs(tmp_path, images)
    start = time.perf_counter()
    rows = image_features(paths)
    elapsed = time.perf_counter() - start
    assert rows.shape == (10_000, feature_dim(16))
    assert np.allclose(rows[1797], rows[0])  # the same digit image repeats every 1797 files
    assert elapsed < 10, f"features of 10k PNGs took {elapsed:.1f}s"
