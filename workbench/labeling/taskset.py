"""A project's tasks as arrays: ids, files, current labels and image features.

Features are cached per project by content hash (``<data dir>/features/<id>.npz``), so
the second auto-label, next batch or label-error search over 10k images decodes only
the images added since.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.errors import InvalidInput
from workbench.labeling.client import LabelStudioClient
from workbench.labeling.features import image_features
from workbench.labeling.projects import ProjectRecord, annotation_labels
from workbench.labeling.taskindex import TaskIndex


@dataclass
class TaskSet:
    ids: npt.NDArray[np.int64]
    paths: list[Path]
    shas: list[str]
    labels: list[str | None]  # the latest annotation's class, None when unlabeled
    features: npt.NDArray[np.float32]

    @property
    def labeled(self) -> npt.NDArray[np.intp]:
        return np.flatnonzero([label is not None for label in self.labels])

    @property
    def unlabeled(self) -> npt.NDArray[np.intp]:
        return np.flatnonzero([label is None for label in self.labels])


def _label(task: dict[str, Any], record: ProjectRecord) -> str | None:
    labels = annotation_labels(task, record.template)
    return labels[0] if len(labels) == 1 else None


def load_taskset(
    client: LabelStudioClient,
    record: ProjectRecord,
    index: TaskIndex,
    cache_dir: Path,
    progress: bool = False,
) -> TaskSet:
    """Every task of a classification project with its label and features."""
    if record.template != "classification":
        raise InvalidInput(f"project {record.title} labels boxes: this works on classification")
    tasks = sorted(index.tasks.values(), key=lambda t: t.id)
    if not tasks:
        raise InvalidInput(f"project {record.title} has no tasks")
    labels = {int(t["id"]): _label(t, record) for t in client.annotated_tasks(record.id)}
    shas = [t.sha256 for t in tasks]
    paths = [record.root / t.path for t in tasks]
    return TaskSet(
        ids=np.asarray([t.id for t in tasks], np.int64),
        paths=paths,
        shas=shas,
        labels=[labels.get(t.id) for t in tasks],
        features=cached_features(cache_dir / f"{record.id}.npz", paths, shas, progress),
    )


def cached_features(
    cache: Path, paths: list[Path], shas: list[str], progress: bool
) -> npt.NDArray[np.float32]:
    known: dict[str, npt.NDArray[np.float32]] = {}
    if cache.is_file():
        with np.load(cache) as stored:
            known = dict(zip(stored["shas"].tolist(), stored["features"], strict=True))
    missing = [i for i, sha in enumerate(shas) if sha not in known]
    if missing:
        fresh = image_features([paths[i] for i in missing], progress=progress)
        for i, row in zip(missing, fresh, strict=True):
            known[shas[i]] = row
        cache.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.stem}.tmp.npz")
        np.savez(tmp, shas=np.asarray(list(known)), features=np.stack(list(known.values())))
        os.replace(tmp, cache)
    return np.stack([known[sha] for sha in shas]).astype(np.float32, copy=False)
