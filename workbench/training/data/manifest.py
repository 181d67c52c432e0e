"""The labeled-dataset manifest: what labeling exports and training reads.

A manifest is one JSON file next to the files it lists::

    {"format": "workbench.dataset/1", "name": "pets", "version": 3,
     "classes": ["cat", "dog"],
     "items": [{"file": "images/0001.png", "label": "cat", "sha256": "<hex>"}, ...],
     "content_hash": "<sha256 of the canonical classes + items>"}

Items exported from labeling also say where they came from (``source``: the image's path
in the labeling project), who labeled them and when, and how (``provenance``: manual,
auto or model, with the model version and its confidence); box datasets carry ``boxes``
(percent of the image, Label Studio's convention) and no ``label``. A version published
by the registry (:mod:`workbench.training.data.versions`) names its ``parent``.

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
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import InvalidInput, NotFound
from workbench.training.data.arrays import ArrayDataset
from workbench.training.data.sources import load_images
from workbench.validation import invalid_input

FORMAT: Literal["workbench.dataset/1"] = "workbench.dataset/1"


Provenance = Literal["manual", "auto", "model"]


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1)
    x: float = Field(ge=0.0, le=100.0)
    y: float = Field(ge=0.0, le=100.0)
    width: float = Field(ge=0.0, le=100.0)
    height: float = Field(ge=0.0, le=100.0)


class ManifestItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    label: str | None = Field(None, min_length=1)
    boxes: list[Box] | None = None
    source: str | None = None
    annotator: str | None = None
    annotated_at: str | None = None
    provenance: Provenance = "manual"
    model_version: str | None = None
    confidence: float | None = Field(None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_target(self) -> ManifestItem:
        if (self.label is None) == (self.boxes is None):
            raise ValueError("an item has exactly one of label or boxes")
        return self

    @property
    def key(self) -> str:
        """What identifies the item across versions: its labeling path, else its file."""
        return self.source or self.file

    def labels(self) -> set[str]:
        return {self.label} if self.label is not None else {b.label for b in self.boxes or []}


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["workbench.dataset/1"] = FORMAT
    name: str = Field(min_length=1, max_length=200)
    version: int = Field(ge=1)
    classes: list[str] = Field(min_length=1)
    items: list[ManifestItem]
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    kind: Literal["classification", "boxes"] = "classification"
    parent: str | None = Field(None, description="the version this one was exported after")
    created_at: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    @model_validator(mode="after")
    def _items_fit_kind(self) -> Manifest:
        unknown = sorted(set().union(*(i.labels() for i in self.items)) - set(self.classes))
        if unknown:
            raise ValueError(f"labels not in classes: {unknown}")
        want_label = self.kind == "classification"
        for item in self.items:
            if (item.label is not None) != want_label:
                raise ValueError(
                    f"item {item.file}: a {self.kind} dataset's items need "
                    f"{'a label' if want_label else 'boxes'}"
                )
        return self


def content_hash(classes: list[str], items: list[ManifestItem]) -> str:
    canonical = json.dumps(
        {
            "classes": classes,
            "items": [
                i.model_dump(exclude_defaults=True) for i in sorted(items, key=lambda i: i.file)
            ],
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
        raise invalid_input(
            exc, f"corrupt dataset manifest {path}", root="manifest", first_only=True
        ) from None
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
    save_manifest(path, manifest)
    return manifest


def save_manifest(path: Path, manifest: Manifest, *, exclusive: bool = False) -> None:
    """Write ``manifest`` to ``path`` atomically (fsync, rename); ``exclusive``: fail with
    FileExistsError instead of replacing a manifest already there (versions are immutable)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".manifest-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(manifest.model_dump_json(indent=1, exclude_none=True))
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)  # atomic, and refuses an existing name
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def manifest_dataset(
    path: Path, image_size: tuple[int, int] | None = None, grayscale: bool = False
) -> ArrayDataset:
    """The images a manifest lists, as an :class:`ArrayDataset` (classes in manifest order)."""
    manifest = load_manifest(path)
    if manifest.kind != "classification":
        raise InvalidInput(
            f"dataset {manifest.ref} holds {manifest.kind}; training reads classification datasets"
        )
    index = {name: i for i, name in enumerate(manifest.classes)}
    files = [resolve_item(path.parent, item) for item in manifest.items]
    return ArrayDataset(
        load_images(files, image_size, grayscale, path),
        np.asarray([index[str(i.label)] for i in manifest.items], np.int64),
        list(manifest.classes),
        f"{manifest.name}@v{manifest.version}",
        {"content_hash": manifest.content_hash},
    )
