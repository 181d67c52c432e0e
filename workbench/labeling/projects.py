"""Labeling projects: a Label Studio project made from an image folder or a dataset version.

``root/<class>/<image>`` images arrive labeled (imported as annotations); images directly
in ``root`` arrive unlabeled. Images are served by Label Studio's local-files storage
(tasks hold a URL, never the bytes), tasks carry the image's content hash, and importing
again adds only images whose hash the project does not hold yet.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from workbench.errors import InvalidInput, NotFound, WorkbenchError
from workbench.labeling.client import LabelStudioClient
from workbench.labeling.scan import ScannedImage, scan_images
from workbench.labeling.taskindex import IndexedTask, TaskIndex
from workbench.progress import bar
from workbench.training.data.versions import DatasetRegistry

Template = Literal["classification", "boxes"]
IMPORT_BATCH = 500
FROM_NAME = {"classification": "label", "boxes": "bbox"}
RESULT_TYPE = {"classification": "choices", "boxes": "rectanglelabels"}


def choice_region(label: str) -> dict[str, Any]:
    """One class as a Label Studio result region (annotations and predictions alike)."""
    return {"from_name": FROM_NAME["classification"], "to_name": "image",
            "type": RESULT_TYPE["classification"], "value": {"choices": [label]}}  # fmt: skip


def label_config(template: Template, classes: list[str]) -> str:
    """Label Studio's labeling config; tag names match :data:`FROM_NAME` and ``image``."""
    if not classes:
        raise InvalidInput("a labeling project needs at least one class (--classes a,b)")
    values = "".join(f"<{'Choice' if template == 'classification' else 'Label'} "
                     f"value={quoteattr(c)}/>" for c in classes)  # fmt: skip
    name = FROM_NAME[template]
    if template == "classification":
        control = f'<Choices name="{name}" toName="image" choice="single">{values}</Choices>'
    else:
        control = f'<RectangleLabels name="{name}" toName="image">{values}</RectangleLabels>'
    return f'<View><Image name="image" value="$image"/>{control}</View>'


@dataclass
class ProjectRecord:
    """What the workbench keeps about a project next to Label Studio's own record."""

    id: int
    title: str
    template: Template
    classes: list[str]
    images: str
    dataset: str | None = None

    @property
    def root(self) -> Path:
        return Path(self.images)


class ProjectBook:
    """Project records under the Label Studio data dir, one JSON file each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save(self, record: ProjectRecord) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.folder / f".{record.id}.json.tmp"
        tmp.write_text(json.dumps(asdict(record), indent=1))
        os.replace(tmp, self.folder / f"{record.id}.json")

    def get(self, project_id: int) -> ProjectRecord:
        path = self.folder / f"{project_id}.json"
        if not path.is_file():
            raise NotFound(f"labeling project {project_id} was not made by the workbench")
        return ProjectRecord(**json.loads(path.read_text()))

    def find(self, ref: str | int) -> ProjectRecord:
        """A project by id or by title (the newest of that title), from the records alone."""
        text = str(ref).strip()
        if text.isdigit():
            return self.get(int(text))
        matches = [r for r in self.all() if r.title == text]
        if not matches:
            known = ", ".join(f"{r.id}:{r.title}" for r in self.all()) or "none yet"
            raise NotFound(f"no labeling project named {text!r} (projects: {known})")
        return matches[-1]

    def all(self) -> list[ProjectRecord]:
        if not self.folder.is_dir():
            return []
        records = (p for p in self.folder.glob("*.json") if p.stem.isdigit())  # not *.tasks.json
        found = [ProjectRecord(**json.loads(p.read_text())) for p in records]
        return sorted(found, key=lambda r: r.id)

    def remove(self, project_id: int) -> None:
        (self.folder / f"{project_id}.json").unlink(missing_ok=True)
        (self.folder / f"{project_id}.tasks.json").unlink(missing_ok=True)


@dataclass
class ImportResult:
    project: int
    new: int
    already: int
    labeled: int
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def local_url(files_root: Path, path: Path) -> str:
    rel = path.resolve().relative_to(files_root)
    return f"/data/local-files/?d={quote(rel.as_posix())}"


def check_under_root(files_root: Path, folder: Path) -> Path:
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise NotFound(f"image folder {folder} does not exist")
    if folder == files_root or not folder.is_relative_to(files_root):
        raise InvalidInput(
            f"Label Studio serves images from under {files_root} only, and {folder} is not in "
            "a folder below it: move the images or set WORKBENCH_LABELSTUDIO_FILES_ROOT"
        )
    return folder


class Projects:
    """Create projects, import images into them and summarise their progress."""

    def __init__(self, client: LabelStudioClient, book: ProjectBook, files_root: Path) -> None:
        self.client, self.book, self.files_root = client, book, files_root

    def find(self, ref: str | int) -> ProjectRecord:
        """A project by id or by title; one named by id must still be in Label Studio."""
        record = self.book.find(ref)
        if str(ref).strip().isdigit():
            self.client.project(record.id)  # still there in Label Studio?
        return record

    def create(
        self,
        title: str,
        images: Path,
        template: Template = "classification",
        classes: list[str] | None = None,
        progress: bool = True,
    ) -> tuple[ProjectRecord, ImportResult]:
        """A project over ``images``; its class folders become classes and annotations."""
        self._check_title(title)
        root = check_under_root(self.files_root, images)
        scanned, skipped = scan_images(root)
        found = sorted({s.label for s in scanned if s.label is not None})
        names = list(dict.fromkeys([*(classes or []), *found]))
        if template == "boxes" and found:
            raise InvalidInput(f"{root}: a boxes project takes a flat folder (no class folders)")
        record = self._open(title, template, names, root, None, f"{title} images")
        return record, self._import(record, scanned, skipped, progress)

    def create_from_dataset(
        self, title: str, ref: str, registry: DatasetRegistry, progress: bool = True
    ) -> tuple[ProjectRecord, ImportResult]:
        """A project holding a dataset version's images, with its labels as annotations."""
        manifest = registry.load(ref, verify_files=True)
        if manifest.kind != "classification":
            raise InvalidInput(f"dataset {manifest.ref}: only classification versions re-open")
        folder = registry.manifest_path(manifest.ref).parent
        root = check_under_root(self.files_root, folder / "objects")
        self._check_title(title)
        record = self._open(title, "classification", manifest.classes, root, manifest.ref,
                            f"{manifest.ref} images")  # fmt: skip
        scanned = [
            ScannedImage(folder / item.file, item.key, item.sha256, item.label)
            for item in manifest.items
        ]
        return record, self._import(record, scanned, [], progress)

    def _check_title(self, title: str) -> None:
        if not 3 <= len(title) <= 50:
            raise InvalidInput(f"project title {title!r}: 3 to 50 characters")
        if any(r.title == title for r in self.book.all()):
            raise InvalidInput(f"a labeling project named {title!r} exists: pick another title")

    def _open(
        self, title: str, template: Template, classes: list[str], root: Path,
        dataset: str | None, storage_title: str,
    ) -> ProjectRecord:  # fmt: skip
        """The Label Studio project, its record, and the storage that serves its images."""
        made = self.client.create_project(title=title, label_config=label_config(template, classes))
        record = ProjectRecord(made["id"], title, template, classes, str(root), dataset)
        self.book.save(record)
        self.client.add_local_storage(record.id, str(root), storage_title)
        return record

    def reimport(self, ref: str | int, progress: bool = True) -> ImportResult:
        """Import images added to the project's folder since; known content is skipped."""
        record = self.find(ref)
        if record.dataset is not None:
            raise InvalidInput(
                f"project {record.title} shows {record.dataset}, which never changes"
            )
        scanned, skipped = scan_images(record.root)
        unknown = sorted({s.label for s in scanned if s.label} - set(record.classes))
        if unknown:
            raise InvalidInput(
                f"{record.root} has class folders the project does not know: {unknown}; "
                "create a new project to add classes"
            )
        return self._import(record, scanned, skipped, progress)

    def _import(
        self, record: ProjectRecord, images: list[ScannedImage], skipped: list[str], progress: bool
    ) -> ImportResult:
        index = self.index(record)
        known = index.shas()
        fresh: dict[str, ScannedImage] = {}
        for image in images:
            if image.sha256 not in known:
                fresh.setdefault(image.sha256, image)
        todo = list(fresh.values())
        title = f"importing into {record.title}"
        with bar(len(todo), title, show=progress and bool(todo), unit="task") as meter:
            for start in range(0, len(todo), IMPORT_BATCH):
                batch = todo[start : start + IMPORT_BATCH]
                ids = self.client.import_tasks(record.id, [self._task(record, i) for i in batch])
                if len(ids) != len(batch):
                    raise WorkbenchError(
                        f"Label Studio made {len(ids)} tasks for {len(batch)} images; "
                        f"run `workbench label import {record.id}` again to finish"
                    )
                index.add(
                    [
                        IndexedTask(k, i.sha256, self._rel(record, i))
                        for k, i in zip(ids, batch, strict=True)
                    ]
                )
                meter.update(len(batch))
        labeled = sum(1 for i in todo if i.label is not None)
        return ImportResult(record.id, len(todo), len(images) - len(todo), labeled, skipped)

    @staticmethod
    def _rel(record: ProjectRecord, image: ScannedImage) -> str:
        """The image's path relative to the project's folder (what Label Studio serves)."""
        return image.path.resolve().relative_to(record.root).as_posix()

    def _task(self, record: ProjectRecord, image: ScannedImage) -> dict[str, Any]:
        data = {
            "image": local_url(self.files_root, image.path),
            "wb_sha256": image.sha256,
            "wb_path": self._rel(record, image),
        }
        if data["wb_path"] != image.source:  # a dataset version's item: keep its identity
            data["wb_source"] = image.source
        task: dict[str, Any] = {"data": data}
        if image.label is not None:
            task["annotations"] = [{"result": [choice_region(image.label)]}]
        return task

    def index(self, record: ProjectRecord) -> TaskIndex:
        """The project's task index, checked against Label Studio's task count."""
        index = TaskIndex(self.book.folder / f"{record.id}.tasks.json")
        return index.reconcile(self.client, record.id)

    def summary(self, record: ProjectRecord) -> dict[str, Any]:
        """Progress of one project: total, labeled, per-class counts."""
        per_class = dict.fromkeys(record.classes, 0)
        labeled = 0
        total = int(self.client.project(record.id).get("task_number") or 0)
        for task in self.client.annotated_tasks(record.id):
            labels = annotation_labels(task, record.template)
            if labels:
                labeled += 1
            for label in labels:
                per_class[label] = per_class.get(label, 0) + 1
        return {
            "id": record.id, "title": record.title, "template": record.template,
            "classes": record.classes, "images": record.images, "dataset": record.dataset,
            "total": total, "labeled": labeled, "per_class": per_class,
            "url": f"{self.client.url}/projects/{record.id}/data",
        }  # fmt: skip


def latest_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
    return max(done, key=lambda a: (a.get("updated_at") or "", a.get("id") or 0), default=None)


def annotation_labels(task: dict[str, Any], template: Template) -> list[str]:
    """The labels of a task's latest annotation (one for choices, one per box)."""
    annotation = latest_annotation(task)
    if annotation is None:
        return []
    key = "choices" if template == "classification" else "rectanglelabels"
    labels: list[str] = []
    for region in annotation.get("result") or []:
        if region.get("type") == RESULT_TYPE[template]:
            labels.extend(region.get("value", {}).get(key, []))
    return labels
