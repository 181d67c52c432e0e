"""Annotations -> an immutable dataset version ``name@vN`` that training reads.

The export goes through Label Studio's snapshot (create -> poll -> download), so it holds
exactly what Label Studio stored. Each labeled task's latest annotation becomes one item
with its provenance: ``manual``, or ``auto`` / ``model`` when the annotation accepted a
prediction (with that prediction's model version and score). Nothing is written unless
every annotation checks out; an unchanged export returns the version already there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import InvalidInput
from workbench.labeling.client import LabelStudioClient
from workbench.labeling.projects import RESULT_TYPE, ProjectRecord, latest_annotation
from workbench.training.data.manifest import Manifest, file_sha256
from workbench.training.data.versions import DatasetRegistry, NewItem, parse_ref

AUTO_PREFIX = "auto-"


def provenance_of(
    annotation: dict[str, Any], predictions: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """manual, or where an accepted prediction came from (auto-labeler or a model)."""
    prediction = predictions.get(annotation.get("parent_prediction") or -1)
    if prediction is None:
        return {"provenance": "manual"}
    version = str(prediction.get("model_version") or "")
    regions = prediction.get("result") or [{}]
    score = regions[0].get("score", prediction.get("score"))  # the class's probability
    return {
        "provenance": "auto" if version.startswith(AUTO_PREFIX) else "model",
        "model_version": version or None,
        "confidence": float(score) if score is not None else None,
    }


def _boxes(region: dict[str, Any]) -> list[dict[str, Any]]:
    value = region.get("value", {})
    return [
        {"label": label, "x": value["x"], "y": value["y"], "width": value["width"],
         "height": value["height"]}
        for label in value.get("rectanglelabels", [])
    ]  # fmt: skip


def item_from_task(
    task: dict[str, Any],
    record: ProjectRecord,
    users: dict[int, str],
    predictions: dict[int, dict[str, Any]],
) -> NewItem | None:
    """The dataset item of one exported task, or None when nobody labeled it."""
    annotation = latest_annotation(task)
    if annotation is None:
        return None
    data = task.get("data", {})
    where = f"task {task.get('id')} ({data.get('wb_path', '?')})"
    regions = [
        r for r in annotation.get("result") or [] if r.get("type") == RESULT_TYPE[record.template]
    ]
    label: str | None = None
    boxes: list[dict[str, Any]] | None = None
    if record.template == "classification":
        choices = [c for r in regions for c in r.get("value", {}).get("choices", [])]
        if len(choices) != 1:
            raise InvalidInput(f"{where}: expected one class, the annotation has {choices}")
        label = choices[0]
        labels = [label]
    else:
        boxes = [b for r in regions for b in _boxes(r)]
        labels = [b["label"] for b in boxes]
    unknown = sorted(set(labels) - set(record.classes))
    if unknown:
        raise InvalidInput(f"{where}: labels {unknown} are not classes of {record.title}")
    path = _task_file(task, record, where)
    who = annotation.get("completed_by")
    return NewItem(
        path=path, source=str(data.get("wb_source") or data["wb_path"]), label=label, boxes=boxes,
        annotator=users.get(who, str(who)) if who is not None else None,
        annotated_at=annotation.get("updated_at") or annotation.get("created_at"),
        **provenance_of(annotation, predictions),
    )  # fmt: skip


def _task_file(task: dict[str, Any], record: ProjectRecord, where: str) -> Path:
    data = task.get("data", {})
    if "wb_path" not in data or "wb_sha256" not in data:
        raise InvalidInput(f"{where}: not imported by the workbench (no wb_path / wb_sha256)")
    path = (record.root / str(data["wb_path"])).resolve()
    if not path.is_relative_to(record.root):
        raise InvalidInput(f"{where}: its path leaves the project folder {record.root}")
    if not path.is_file():
        raise InvalidInput(f"{where}: {path} was removed since it was imported")
    if file_sha256(path) != data["wb_sha256"]:
        raise InvalidInput(f"{where}: {path} changed since it was imported; re-import it")
    return path


def export_project(
    client: LabelStudioClient, record: ProjectRecord, name: str, registry: DatasetRegistry
) -> tuple[Manifest, bool]:
    """Publish the project's labels as the next version of dataset ``name``."""
    if parse_ref(name)[1] is not None:
        raise InvalidInput(f"dataset {name!r}: give a name; the export picks the version")
    rows = client.export_snapshot(record.id)
    users = client.users()
    predictions: dict[int, dict[str, Any]] = {}
    if any(a.get("parent_prediction") for row in rows for a in row.get("annotations") or []):
        # the export lists prediction ids only: their versions and scores come from the tasks
        for task in client.iter_tasks(record.id):
            predictions.update({p["id"]: p for p in task.get("predictions") or []})
    items = [
        item for row in rows
        if (item := item_from_task(row, record, users, predictions)) is not None
    ]  # fmt: skip
    if not items:
        raise InvalidInput(f"project {record.title} has no labeled tasks to export yet")
    return registry.publish(name, record.classes, items, kind=record.template)
