"""Datasets: digits, image folders, manifests, sharding, augmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.errors import InvalidInput, NotFound
from workbench.training.data import (
    Augment,
    digits,
    image_folder,
    load_manifest,
    manifest_dataset,
    shard_indices,
    synthetic,
    write_manifest,
)


def test_digits_is_real_and_split_is_seeded():
    data = digits()
    assert len(data) == 1797 and data.image_shape == (1, 8, 8)
    assert data.images.min() >= 0.0 and data.images.max() <= 1.0
    train, test = data.split(0.2, seed=3)
    again, _ = data.split(0.2, seed=3)
    assert len(test) == 359 and len(train) == 1438
    assert np.array_equal(train.labels, again.labels)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_shards_are_disjoint_equal_and_reshuffled(size: int):
    n = 103
    shards = [shard_indices(n, r, size, epoch=0, seed=1) for r in range(size)]
    assert len({len(s) for s in shards}) == 1 and len(shards[0]) == n // size
    union = np.concatenate(shards)
    assert len(np.unique(union)) == len(union)  # disjoint
    assert np.array_equal(shards[0], shard_indices(n, 0, size, epoch=0, seed=1))  # deterministic
    if size > 1:
        assert not np.array_equal(shards[0], shard_indices(n, 0, size, epoch=1, seed=1))
    unshuffled = shard_indices(n, 0, size, shuffle=False)
    assert np.array_equal(unshuffled, np.arange(n // size))


def test_shard_errors():
    with pytest.raises(ValueError, match="rank must be in"):
        shard_indices(10, 2, 2)
    with pytest.raises(ValueError, match="cannot be split over 4 ranks"):
        shard_indices(3, 0, 4)


def test_batches_cover_the_shard_with_equal_steps_per_rank():
    data = synthetic(50, (1, 4, 4), 3)
    steps = [len(list(data.batches(8, rank=r, size=3, epoch=2))) for r in range(3)]
    assert steps == [2, 2, 2]  # 16 samples each (8 + 8); the 2 left over wait for next epoch
    seen = np.concatenate([y for r in range(3) for _, y in data.batches(8, rank=r, size=3)])
    assert len(seen) == 48


def test_augment_is_seeded_and_shape_preserving():
    x = synthetic(6, (3, 8, 8), 2).images
    aug = Augment(hflip=True, crop_padding=2, noise_std=0.1)
    a = aug(x, np.random.default_rng(0))
    b = aug(x, np.random.default_rng(0))
    assert a.shape == x.shape and np.array_equal(a, b) and not np.array_equal(a, x)
    with pytest.raises(ValueError, match="crop_padding"):
        Augment(crop_padding=-1)


def _write_images(root: Path) -> list[tuple[str, str]]:
    labeled = []
    for label, color in (("cat", 40), ("dog", 200)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            Image.new("RGB", (6, 5), (color, i * 10, 0)).save(root / label / f"{i}.png")
            labeled.append((f"{label}/{i}.png", label))
    return labeled


def test_image_folder(tmp_path: Path):
    _write_images(tmp_path / "pets")
    data = image_folder(tmp_path / "pets")
    assert data.classes == ["cat", "dog"] and len(data) == 6 and data.image_shape == (3, 5, 6)
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert abs(float(data.images[0, 0, 0, 0]) - 40 / 255) < 1e-6
    with pytest.raises(NotFound):
        image_folder(tmp_path / "nope")
    (tmp_path / "pets" / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInput, match=r"broken\.png is not a readable image"):
        image_folder(tmp_path / "pets")


def test_manifest_roundtrip_and_content_hash(tmp_path: Path):
    labeled = _write_images(tmp_path)
    path = tmp_path / "manifest.json"
    written = write_manifest(path, "pets", 1, ["cat", "dog"], labeled)
    again = write_manifest(tmp_path / "again.json", "pets", 2, ["cat", "dog"], labeled[::-1])
    assert written.content_hash == again.content_hash  # same labels on same bytes
    data = manifest_dataset(path)
    assert len(data) == 6 and data.meta["content_hash"] == written.content_hash
    assert data.name == "pets@v1"
    assert list(tmp_path.glob(".manifest-*")) == []  # atomic write left no temp file


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda m: m.update(items=[{**m["items"][0], "label": "bird"}]), "labels not in classes"),
        (lambda m: m["items"].pop(), "content_hash does not match"),
        (lambda m: m.pop("classes"), "classes: Field required"),
        (lambda m: m.update(version=0), "version: Input should be greater than or equal to 1"),
        (lambda m: m.update(format="other/9"), "format: Input should be"),
    ],
)
def test_corrupt_manifests_are_rejected(tmp_path: Path, corrupt, message):
    labeled = _write_images(tmp_path)
    path = tmp_path / "manifest.json"
    write_manifest(path, "pets", 1, ["cat", "dog"], labeled)
    raw = json.loads(path.read_text())
    corrupt(raw)
    path.write_text(json.dumps(raw))
    with pytest.raises(InvalidInput, match=message):
        load_manifest(path)


def test_manifest_detects_changed_files_and_escapes(tmp_path: Path):
    labeled = _write_images(tmp_path)
    path = tmp_path / "manifest.json"
    write_manifest(path, "pets", 1, ["cat", "dog"], labeled)
    Image.new("RGB", (6, 5), (1, 2, 3)).save(tmp_path / "cat" / "0.png")
    with pytest.raises(InvalidInput, match=r"cat/0\.png changed since export"):
        load_manifest(path)
    (tmp_path / "outside.png").write_bytes(b"x")
    sub = tmp_path / "sub"
    sub.mkdir()
    with pytest.raises(InvalidInput, match="points outside"):
        write_manifest(sub / "m.json", "x", 1, ["a"], [("../outside.png", "a")])
    path.write_text("{not json")
    with pytest.raises(InvalidInput, match="corrupt dataset manifest"):
        load_manifest(path)


def test_digest_follows_content_and_splits_keep_their_datasets():
    from workbench.training.data import digits

    a, b = digits(), digits()
    assert a.digest() == b.digest() and len(a.digest()) == 32
    b.labels[0] = (b.labels[0] + 1) % 10
    assert a.digest() != b.digest()
    a.meta["digest"] = a.digest()
    train, test = a.split(0.2)
    assert train.digest() == test.digest() == a.digest()
