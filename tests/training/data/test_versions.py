"""Dataset versions: publish, unchanged export, immutability, diff, refs, crash safety."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.errors import InvalidInput, NotFound
from workbench.training.data import manifest_dataset
from workbench.training.data.versions import DatasetRegistry, NewItem, parse_ref


def _images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.fromarray(np.full((4, 4), i * 20, np.uint8)).save(path)
        paths.append(path)
    return paths


def _items(paths: list[Path], labels: list[str]) -> list[NewItem]:
    return [NewItem(p, p.name, label=lab) for p, lab in zip(paths, labels, strict=True)]


def test_publish_reuses_unchanged_content_and_numbers_versions(tmp_path: Path):
    registry = DatasetRegistry(tmp_path / "datasets")
    paths = _images(tmp_path / "src", 4)
    v1, created = registry.publish("pets", ["cat", "dog"], _items(paths, ["cat", "dog"] * 2))
    assert created and v1.ref == "pets@v1" and v1.parent is None
    same, created = registry.publish("pets", ["cat", "dog"], _items(paths, ["cat", "dog"] * 2))
    assert not created and same.ref == "pets@v1"
    v2, created = registry.publish("pets", ["cat", "dog"], _items(paths, ["cat"] * 4))
    assert created and v2.ref == "pets@v2" and v2.parent == "pets@v1"
    assert registry.versions("pets") == [1, 2] and registry.names() == ["pets"]
    path = registry.manifest_path("pets@v1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    # objects are copies, stored once: the source can change without touching the version
    assert len(list((tmp_path / "datasets" / "pets" / "objects").iterdir())) == 4
    paths[0].write_bytes(b"overwritten")
    data = manifest_dataset(registry.manifest_path("pets@v1"), grayscale=True)
    assert data.name == "pets@v1" and len(data) == 4
    diff = registry.diff("pets@v1", "pets@v2").to_dict()
    assert diff["summary"] == {"added": 0, "removed": 0, "relabelled": 2}
    assert diff["relabelled"][0] == {"item": "img1.png", "from": "dog", "to": "cat"}


def test_a_number_taken_meanwhile_is_skipped_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    registry = DatasetRegistry(tmp_path / "datasets")
    paths = _images(tmp_path / "src", 2)
    registry.publish("pets", ["cat"], _items(paths, ["cat", "cat"]))
    rival = registry.root / "pets" / "v2.json"
    rival.write_text("another writer's manifest")
    monkeypatch.setattr(registry, "versions", lambda name: [1])  # it looked before v2 landed
    made, _ = registry.publish("pets", ["cat", "dog"], _items(paths, ["cat", "dog"]))
    assert made.ref == "pets@v3" and rival.read_text() == "another writer's manifest"


def test_refs_and_missing_versions_are_clear(tmp_path: Path):
    assert parse_ref("digits-labels@v3") == ("digits-labels", 3)
    assert parse_ref("digits") == ("digits", None)
    for bad in ("", "a b", "x@3", "x@v0", "../up"):
        with pytest.raises(InvalidInput, match="NAME@vN"):
            parse_ref(bad)
    registry = DatasetRegistry(tmp_path / "datasets")
    with pytest.raises(NotFound, match="datasets: none yet"):
        registry.manifest_path("pets@v1")
    registry.publish("pets", ["cat"], _items(_images(tmp_path / "src", 1), ["cat"]))
    with pytest.raises(NotFound, match=r"pets@v7 does not exist \(versions: v1\)"):
        registry.load("pets@v7")
    with pytest.raises(InvalidInput, match=r"name a version, e\.g\. pets@v1"):
        registry.manifest_path("pets", latest_ok=False)
    assert registry.manifest_path("pets").name == "v1.json"


def test_bad_items_write_no_version(tmp_path: Path):
    registry = DatasetRegistry(tmp_path / "datasets")
    paths = _images(tmp_path / "src", 2)
    with pytest.raises(InvalidInput, match="does not exist"):
        gone = NewItem(tmp_path / "gone.png", "gone.png", label="cat")
        registry.publish("pets", ["cat"], [*_items(paths, ["cat", "cat"]), gone])
    with pytest.raises(InvalidInput, match="listed twice"):
        registry.publish("pets", ["cat"], _items([paths[0], paths[0]], ["cat", "cat"]))
    with pytest.raises(InvalidInput, match="nothing to publish"):
        registry.publish("pets", ["cat"], [])
    with pytest.raises(InvalidInput, match=r"labels not in classes: \['dog'\]"):
        registry.publish("pets", ["cat"], _items(paths, ["cat", "dog"]))
    assert registry.versions("pets") == [] and registry.names() == []


def test_box_versions_keep_boxes_and_training_refuses_them(tmp_path: Path):
    registry = DatasetRegistry(tmp_path / "datasets")
    (path,) = _images(tmp_path / "src", 1)
    box = {"label": "car", "x": 10.0, "y": 20.0, "width": 30.0, "height": 40.0}
    made, _ = registry.publish("cars", ["car"], [NewItem(path, "a.png", boxes=[box])], kind="boxes")
    stored = json.loads(registry.manifest_path(made.ref).read_text())
    assert stored["kind"] == "boxes" and stored["items"][0]["boxes"] == [box]
    with pytest.raises(InvalidInput, match="training reads classification"):
        manifest_dataset(registry.manifest_path(made.ref))
