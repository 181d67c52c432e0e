"""Immutable dataset versions ``name@vN``: what labeling exports and training reads.

Layout under the datasets directory (``<home>/datasets``)::

    <name>/objects/<sha256><suffix>   image bytes, stored once by content
    <name>/v1.json, v2.json, ...      manifests (read-only once written)

A version is published only when its content differs from the latest one: exporting
twice with no change gives back the same version. Objects are copied (never linked)
and checked against their hash, then the manifest is written atomically under a name
no other writer can take, so a crash leaves at most unreferenced objects, never a
half-written version.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pydantic

from workbench.errors import InvalidInput, NotFound
from workbench.training.data.manifest import (
    Box,
    Manifest,
    ManifestItem,
    content_hash,
    file_sha256,
    load_manifest,
    save_manifest,
)
from workbench.validation import invalid_input

NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"
_REF = re.compile(rf"^(?P<name>{NAME_PATTERN})(@v(?P<version>[1-9][0-9]*))?$")
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.json$")


def parse_ref(ref: str) -> tuple[str, int | None]:
    """``"pets@v3"`` -> ``("pets", 3)``; ``"pets"`` -> ``("pets", None)`` (the latest)."""
    match = _REF.match(ref.strip())
    if match is None:
        raise InvalidInput(
            f"dataset {ref!r}: expected NAME or NAME@vN (letters, digits, . _ -; e.g. pets@v3)"
        )
    version = match.group("version")
    return match.group("name"), int(version) if version else None


@dataclass
class NewItem:
    """One labeled image to publish: where its bytes are now and what it is labeled."""

    path: Path
    source: str
    label: str | None = None
    boxes: list[dict[str, Any]] | None = None
    annotator: str | None = None
    annotated_at: str | None = None
    provenance: Literal["manual", "auto", "model"] = "manual"
    model_version: str | None = None
    confidence: float | None = None


@dataclass
class DatasetDiff:
    base: str
    other: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    relabelled: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "other": self.other,
            "added": self.added,
            "removed": self.removed,
            "relabelled": self.relabelled,
            "summary": {
                "added": len(self.added),
                "removed": len(self.removed),
                "relabelled": len(self.relabelled),
            },
        }


class DatasetRegistry:
    """The dataset versions under one root directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = (_VERSION_FILE.match(p.name) for p in folder.iterdir())
        return sorted(int(m.group(1)) for m in found if m)

    def manifest_path(self, ref: str, *, latest_ok: bool = True) -> Path:
        """The manifest of ``ref``; ``NAME`` alone means its latest version."""
        name, version = parse_ref(ref)
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none yet"
            raise NotFound(f"dataset {name!r} does not exist (datasets: {known})")
        if version is None:
            if not latest_ok:
                raise InvalidInput(
                    f"dataset {ref!r}: name a version, e.g. {name}@v{versions[-1]} "
                    f"(versions: {', '.join(f'v{v}' for v in versions)})"
                )
            version = versions[-1]
        if version not in versions:
            raise NotFound(
                f"dataset {name}@v{version} does not exist "
                f"(versions: {', '.join(f'v{v}' for v in versions)})"
            )
        return self.root / name / f"v{version}.json"

    def load(self, ref: str, *, verify_files: bool = False) -> Manifest:
        return load_manifest(self.manifest_path(ref), verify_files=verify_files)

    def publish(
        self,
        name: str,
        classes: list[str],
        items: list[NewItem],
        kind: Literal["classification", "boxes"] = "classification",
    ) -> tuple[Manifest, bool]:
        """Publish ``items`` as the next version of ``name``; returns (manifest, created).

        When the content equals the latest version's, nothing is written and that
        version comes back with ``created=False``.
        """
        parse_ref(name)
        if not items:
            raise InvalidInput(f"dataset {name}: nothing to publish (no labeled items)")
        folder = self.root / name
        (folder / "objects").mkdir(parents=True, exist_ok=True)
        entries = [self._store(folder, item) for item in items]
        check_unique(entries)
        digest = content_hash(classes, entries)
        latest = self.versions(name)
        parent = (
            load_manifest(folder / f"v{latest[-1]}.json", verify_files=False) if latest else None
        )
        if parent is not None and parent.content_hash == digest:
            return parent, False
        version = (latest[-1] if latest else 0) + 1
        while True:
            try:
                manifest = Manifest(
                    name=name, version=version, classes=classes, items=entries,
                    content_hash=digest, kind=kind, parent=parent.ref if parent else None,
                    created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                )  # fmt: skip
            except pydantic.ValidationError as exc:
                raise invalid_input(exc, f"dataset {name}", first_only=True) from None
            path = folder / f"v{version}.json"
            try:
                save_manifest(path, manifest, exclusive=True)
            except FileExistsError:  # another export took this number: take the next
                version += 1
                continue
            path.chmod(0o444)
            return manifest, True

    def _store(self, folder: Path, item: NewItem) -> ManifestItem:
        """Copy the item's bytes into the object store (once) and describe it."""
        if not item.path.is_file():
            raise InvalidInput(f"dataset item {item.source}: file {item.path} does not exist")
        sha = file_sha256(item.path)
        rel = f"objects/{sha}{item.path.suffix.lower()}"
        target = folder / rel
        if not (target.is_file() and file_sha256(target) == sha):
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".obj-")
            os.close(fd)
            try:
                shutil.copyfile(item.path, tmp)
                if file_sha256(Path(tmp)) != sha:
                    raise InvalidInput(
                        f"dataset item {item.source}: {item.path} changed while copied"
                    )
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        return ManifestItem(
            file=rel, sha256=sha, label=item.label, source=item.source,
            boxes=[Box(**b) for b in item.boxes] if item.boxes is not None else None,
            annotator=item.annotator, annotated_at=item.annotated_at, provenance=item.provenance,
            model_version=item.model_version, confidence=item.confidence,
        )  # fmt: skip

    def diff(self, base: str, other: str) -> DatasetDiff:
        """What changed from ``base`` to ``other``: items added, removed, relabelled."""
        a, b = self.load(base), self.load(other)
        old = {i.key: i for i in a.items}
        new = {i.key: i for i in b.items}
        result = DatasetDiff(a.ref, b.ref)
        result.added = sorted(new.keys() - old.keys())
        result.removed = sorted(old.keys() - new.keys())
        for key in sorted(old.keys() & new.keys()):
            before, after = old[key], new[key]
            if (before.label, before.boxes, before.sha256) != (
                after.label,
                after.boxes,
                after.sha256,
            ):
                result.relabelled.append(
                    {"item": key, "from": target_of(before), "to": target_of(after)}
                )
        return result

    def describe(self, ref: str) -> dict[str, Any]:
        """A version's summary: size, classes with counts, provenance counts, parent."""
        manifest = self.load(ref)
        per_class = dict.fromkeys(manifest.classes, 0)
        provenance: dict[str, int] = {}
        for item in manifest.items:
            for label in item.labels():
                per_class[label] += 1
            provenance[item.provenance] = provenance.get(item.provenance, 0) + 1
        return {
            "ref": manifest.ref,
            "name": manifest.name,
            "version": manifest.version,
            "kind": manifest.kind,
            "items": len(manifest.items),
            "classes": per_class,
            "provenance": provenance,
            "parent": manifest.parent,
            "created_at": manifest.created_at,
            "content_hash": manifest.content_hash,
            "manifest": str(self.manifest_path(manifest.ref)),
        }


def target_of(item: ManifestItem) -> Any:
    return item.label if item.label is not None else [b.model_dump() for b in item.boxes or []]


def check_unique(entries: list[ManifestItem]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.key in seen:
            raise InvalidInput(f"dataset item {entry.key} is listed twice")
        seen.add(entry.key)


def dataset_registry() -> DatasetRegistry:
    """The registry under the workbench home (``WORKBENCH_DATASETS_DIR`` to move it)."""
    from workbench.config import get_settings

    root = get_settings().datasets_dir
    assert root is not None
    return DatasetRegistry(root)
