"""The model in the labeling loop: auto-label, model pre-labels, next batch, label errors.

Each function works on one classification project. Predictions land in Label Studio
(they stay predictions until a person accepts them); the class probabilities behind the
latest ones are kept next to the feature cache so ``next`` ranks 10k tasks in well
under a second.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.errors import InvalidInput
from workbench.labeling.active import select_batch, uncertainty
from workbench.labeling.autolabel import MIN_PER_CLASS, fit_autolabeler
from workbench.labeling.client import LabelStudioClient
from workbench.labeling.export import AUTO_PREFIX
from workbench.labeling.label_errors import rank_label_errors
from workbench.labeling.predict import (
    align_classes,
    load_registered_model,
    prediction_rows,
    upload_predictions,
)
from workbench.labeling.projects import ProjectRecord, Projects
from workbench.labeling.taskset import TaskSet, load_taskset


class Assistant:
    """Model-assisted labeling for one project."""

    def __init__(
        self, projects: Projects, record: ProjectRecord, cache_dir: Path, progress: bool
    ) -> None:
        self.client, self.record, self.progress = projects.client, record, progress
        self.cache_dir = cache_dir
        index = projects.index(record)
        self.tasks: TaskSet = load_taskset(
            self.client, record, index, cache_dir / "features", progress
        )

    def _labeled(self) -> tuple[npt.NDArray[np.intp], list[str]]:
        index = self.tasks.labeled
        return index, [str(self.tasks.labels[i]) for i in index]

    def autolabel(
        self, min_per_class: int = MIN_PER_CLASS, strategy: str = "least-confidence"
    ) -> dict[str, Any]:
        """Fit the quick classifier on the labels so far; pre-label every unlabeled task."""
        index, labels = self._labeled()
        labeler = fit_autolabeler(self.tasks.features[index], labels, self.record.classes,
                                  min_per_class=min_per_class)  # fmt: skip
        digest = hashlib.sha256(
            "".join(f"{self.tasks.shas[i]}={lab};" for i, lab in zip(index, labels, strict=True))
            .encode()
        ).hexdigest()[:8]  # fmt: skip
        version = f"{AUTO_PREFIX}{digest}-acc{labeler.held_out_accuracy:.2f}"
        todo = self.tasks.unlabeled
        probs = labeler.predict_proba(self.tasks.features[todo]) if len(todo) else np.zeros((0, 1))
        uploaded = self._publish(todo, probs, version, strategy)
        return {
            "project": self.record.id, "model_version": version,
            "held_out_accuracy": labeler.held_out_accuracy, "cv_folds": labeler.cv_folds,
            "trained_on": labeler.n_train, "predicted": uploaded,
            "predicted_per_class": self._per_class(probs),
        }  # fmt: skip

    def predict_with_model(
        self, model_ref: str, tracking_uri: str, strategy: str = "least-confidence"
    ) -> dict[str, Any]:
        """Pre-label the unlabeled tasks with a registered model the workbench trained."""
        model = load_registered_model(model_ref, tracking_uri)
        todo = self.tasks.unlabeled
        raw = model.probabilities([self.tasks.paths[i] for i in todo]) if len(todo) else None
        probs = (
            align_classes(raw, model.classes, self.record.classes)
            if raw is not None
            else np.zeros((0, len(self.record.classes)))
        )
        version = f"{model_ref.partition('@')[0]}@{model.version}"
        uploaded = self._publish(todo, probs, version, strategy)
        return {"project": self.record.id, "model_version": version, "predicted": uploaded,
                "predicted_per_class": self._per_class(probs)}  # fmt: skip

    def _publish(
        self, todo: npt.NDArray[np.intp], probs: npt.NDArray[np.float64], version: str,
        strategy: str,
    ) -> int:  # fmt: skip
        if not len(todo):
            return 0
        ids = self.tasks.ids[todo]
        rows = prediction_rows(ids, probs, self.record.classes, version, strategy)
        created = upload_predictions(self.client, self.record, rows, version, self.progress)
        path = self._predictions_path
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp.npz")
        np.savez(tmp, ids=ids, probs=probs, version=np.asarray(version))
        os.replace(tmp, path)
        return created

    @property
    def _predictions_path(self) -> Path:
        """Where the probabilities behind the latest uploaded predictions are kept."""
        return self.cache_dir / "predictions" / f"{self.record.id}.npz"

    def _per_class(self, probs: npt.NDArray[np.float64]) -> dict[str, int]:
        counts = np.bincount(probs.argmax(axis=1), minlength=len(self.record.classes))
        return (
            {c: int(n) for c, n in zip(self.record.classes, counts, strict=False)}
            if len(probs)
            else {}
        )

    def latest_probabilities(self) -> tuple[npt.NDArray[np.float64], str] | None:
        """Probabilities of the latest predictions for the tasks unlabeled now, if any."""
        path = self._predictions_path
        if not path.is_file():
            return None
        with np.load(path) as stored:
            row = {int(t): i for i, t in enumerate(stored["ids"])}
            todo = self.tasks.ids[self.tasks.unlabeled]
            if not all(int(t) in row for t in todo):
                return None
            return stored["probs"][[row[int(t)] for t in todo]], str(stored["version"])

    def next_batch(self, n: int = 20, strategy: str = "least-confidence") -> dict[str, Any]:
        """The ``n`` unlabeled tasks to label next, most useful first."""
        todo = self.tasks.unlabeled
        if not len(todo):
            return {"project": self.record.id, "strategy": strategy, "tasks": []}
        source = "features"
        probs: npt.NDArray[Any]
        scores: npt.NDArray[np.float64]
        if strategy == "k-center":
            probs = np.full((len(self.tasks.ids), 2), 0.5)  # k-center reads only features
            picked = select_batch(probs, n, strategy, self.tasks.features, candidates=todo)
            scores = np.zeros(len(picked))
        else:
            latest = self.latest_probabilities()
            if latest is None:
                raise InvalidInput(
                    f"project {self.record.title} has no current predictions: run "
                    "`workbench label predict PROJECT --auto` first, or use --strategy k-center"
                )
            probs, source = latest
            order = select_batch(probs, n, strategy)
            picked, scores = todo[order], uncertainty(probs, strategy)[order]
        base = f"{self.client.url}/projects/{self.record.id}/data?task="
        return {
            "project": self.record.id, "strategy": strategy, "ranked_by": source,
            "tasks": [
                {"task": int(self.tasks.ids[i]), "path": self._rel(i),
                 "uncertainty": round(float(s), 6), "url": f"{base}{self.tasks.ids[i]}"}
                for i, s in zip(picked, scores, strict=True)
            ],
        }  # fmt: skip

    def _rel(self, i: int) -> str:
        return self.tasks.paths[i].relative_to(self.record.root).as_posix()

    def label_errors(self, top: int = 50, view: bool = True) -> dict[str, Any]:
        """Labeled tasks whose label is probably wrong (cleanlab), optionally as a view."""
        index, labels = self._labeled()
        if len(index) < 2 * len(self.record.classes):
            raise InvalidInput(
                f"project {self.record.title}: label errors need at least 2 labels per class "
                f"on average ({len(index)} labeled, {len(self.record.classes)} classes)"
            )
        suspects = rank_label_errors(self.tasks.features[index], labels, self.record.classes,
                                     top=top)  # fmt: skip
        task_ids = [int(self.tasks.ids[index[s.index]]) for s in suspects]
        rows = [
            {"task": task, "path": self._rel(index[s.index]), "given": s.given_label,
             "suggested": s.suggested_label, "self_confidence": round(s.self_confidence, 6)}
            for task, s in zip(task_ids, suspects, strict=True)
        ]  # fmt: skip
        made = None
        if view and rows:
            made = self.client.create_view(self.record.id, f"Label errors ({len(rows)})", task_ids)
        url = f"{self.client.url}/projects/{self.record.id}/data"
        return {"project": self.record.id, "suspects": rows,
                "view": made["id"] if made else None,
                "url": f"{url}?tab={made['id']}" if made else url}  # fmt: skip


def accept_predictions(
    client: LabelStudioClient, record: ProjectRecord, min_confidence: float = 0.0
) -> dict[str, Any]:
    """Turn the project's current predictions on unlabeled tasks into annotations (needs
    neither features nor a model: it reads the predictions Label Studio holds)."""
    if not 0.0 <= min_confidence <= 1.0:
        raise InvalidInput(f"min_confidence must be in [0, 1], got {min_confidence}")
    version = client.project(record.id).get("model_version")
    if not version:
        raise InvalidInput(f"project {record.title} has no predictions to accept yet")
    accepted = kept = 0
    for task in client.iter_tasks(record.id):
        if any(not a.get("was_cancelled") for a in task.get("annotations") or []):
            continue
        mine = [p for p in task.get("predictions") or [] if p.get("model_version") == version]
        if not mine:
            continue
        prediction = max(mine, key=lambda p: p.get("id") or 0)
        region = (prediction.get("result") or [{}])[0]
        if float(region.get("score", prediction.get("score") or 0.0)) < min_confidence:
            kept += 1
            continue
        client.create_annotation(task["id"], prediction["result"], prediction["id"])
        accepted += 1
    return {"project": record.id, "model_version": version, "accepted": accepted,
            "below_threshold": kept}  # fmt: skip
