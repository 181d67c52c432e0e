"""The labeled-dataset manifest: what labeling exports and training reads.

A manifest is one JSON file next to the files it lists::

    {"format": "workbench.dataset/1", "name": "pets", "version": 3,
     "classes": ["cat", "dog"],
     "items": [{"file": "images/0001.png", "label": "cat", "sha256": "<hex>"}, ...],
     "content_hash": "<sha256 of the canonical classes + items>"}

File paths are relative to the manifest and may not leave its directory. The content
hash names a dataset version: the same labels on the same bytes give the same hash.
Reading checks everything and says exactly what is wrong; writing is atomic.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from workbench.errors import InvalidInput, NotFound
from workbench.training.data.arrays import ArrayDataset
from workbench.training.data.sources import load_images

FORMAT = "workbench.dataset/1"


class ManifestItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(min_length=1)
    label: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["workbench.dataset/1"] = FORMAT
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    classes: list[str] = Field(min_length=1)
    items: list[ManifestItem]
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def content_hash(classes: list[str], items: list[ManifestItem]) -> str:
    canonical = json.dumps(
        {
            "classes": classes,
            "items": [i.model_dump() for i in sorted(items, key=lambda i: i.file)],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_item(root: Path, item: ManifestItem) -> Path:
    """The item's file, refusing paths that leave the manifest's directory."""
    path = (root / item.file).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InvalidInput(f"manifest item {item.file!r} points outside {root}")
    return path


def load_manifest(path: Path, *, verify_files: bool = True) -> Manifest:
    if not path.is_file():
        raise NotFound(f"dataset manifest {path} does not exist")
    try:
        manifest = Manifest.model_validate_json(path.read_bytes())
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise InvalidInput(f"corrupt dataset manifest {path}: {where}: {first['msg']}") from exc
    unknown = sorted({i.label for i in manifest.items} - set(manifest.classes))
    if unknown:
        raise InvalidInput(f"corrupt dataset manifest {path}: labels not in classes: {unknown}")
    if content_hash(manifest.classes, manifest.items) != manifest.content_hash:
        raise InvalidInput(
            f"corrupt dataset manifest {path}: content_hash does not match its items"
        )
    if verify_files:
        for item in manifest.items:
            file = resolve_item(path.parent, item)
            if not file.is_file():
                raise InvalidInput(f"dataset manifest {path}: file {item.file} is missing")
            if file_sha256(file) != item.sha256:
                raise InvalidInput(f"dataset manifest {path}: {item.file} changed since export")
    return manifest


def write_manifest(
    path: Path, name: str, version: int, classes: list[str], labeled: list[tuple[str, str]]
) -> Manifest:
    """Write a manifest for ``labeled`` (file relative to ``path.parent``, label), atomically."""
    root = path.parent
    items = []
    for file, label in labeled:
        probe = ManifestItem(file=file, label=label, sha256="0" * 64)
        items.append(probe.model_copy(update={"sha256": file_sha256(resolve_item(root, probe))}))
    manifest = Manifest(
        name=name, version=version, classes=classes, items=items,
        content_hash=content_hash(classes, items),
    )  # fmt: skip
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".manifest-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(manifest.model_dump_json(indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return manifest


def manifest_dataset(
    path: Path, image_size: tuple[int, int] | None = None, grayscale: bool = False
) -> ArrayDataset:
    """The images a manifest lists, as an :class:`ArrayDataset` (classes in manifest order)."""
    manifest = load_manifest(path)
    index = {name: i for i, name in enumerate(manifest.classes)}
    files = [resolve_item(path.parent, item) for item in manifest.items]
    return ArrayDataset(
        load_images(files, image_size, grayscale, path),
        np.asarray([index[i.label] for i in manifest.items], np.int64),
        list(manifest.classes),
        f"{manifest.name}@v{manifest.version}",
        {"content_hash": manifest.content_hash},
    )
