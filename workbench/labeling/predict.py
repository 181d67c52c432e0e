"""Model-assisted labeling: predictions uploaded to Label Studio in bulk.

Predictions come from the auto-labeler or from a registered MLflow model that the
workbench trained (torch or Keras). Each carries ``model_version`` and a ``score`` that
is low when the model is unsure, so Label Studio's "Uncertainty sampling" order serves
the most uncertain task next; the project is switched to that order and that version.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.errors import InvalidInput, NotFound
from workbench.labeling.active import confidence_score
from workbench.labeling.client import LabelStudioClient
from workbench.labeling.projects import ProjectRecord, choice_region
from workbench.progress import bar

UPLOAD_BATCH = 2000
INFER_BATCH = 512


def prediction_rows(
    task_ids: npt.NDArray[np.int64],
    probs: npt.NDArray[np.float64],
    classes: list[str],
    model_version: str,
    strategy: str = "least-confidence",
) -> list[dict[str, Any]]:
    """Label Studio predictions: the top class, its probability, an uncertainty score."""
    scores = confidence_score(probs, strategy)
    best = probs.argmax(axis=1)
    rows = []
    for task, k, score, p in zip(task_ids, best, scores, probs.max(axis=1), strict=True):
        region = {**choice_region(classes[int(k)]), "score": round(float(p), 6)}
        rows.append({"task": int(task), "model_version": model_version,
                     "score": round(float(score), 6), "result": [region]})  # fmt: skip
    return rows


def upload_predictions(
    client: LabelStudioClient,
    record: ProjectRecord,
    rows: list[dict[str, Any]],
    model_version: str,
    progress: bool = True,
) -> int:
    """Upload ``rows`` in batches, then point the project at this model version."""
    created = 0
    title = f"predictions -> {record.title}"
    with bar(len(rows), title, show=progress and bool(rows), unit="task") as meter:
        for start in range(0, len(rows), UPLOAD_BATCH):
            batch = rows[start : start + UPLOAD_BATCH]
            created += client.import_predictions(record.id, batch)
            meter.update(len(batch))
    client.update_project(record.id, model_version=model_version, sampling="Uncertainty sampling")
    return created


@dataclass
class RegisteredModel:
    """A registered model the workbench trained: the loaded model and how it reads images."""

    uri: str
    version: str
    classes: list[str]
    layout: str  # "nchw" (torch) or "nhwc" (Keras)
    image_size: tuple[int, int]
    grayscale: bool
    model: Any

    def probabilities(self, paths: list[Path]) -> npt.NDArray[np.float64]:
        from workbench.training.data.sources import load_images

        outs = []
        for start in range(0, len(paths), INFER_BATCH):
            chunk = paths[start : start + INFER_BATCH]
            x = load_images(chunk, self.image_size, self.grayscale, chunk[0].parent)
            if self.layout == "nhwc":
                x = x.transpose(0, 2, 3, 1)
            outs.append(np.asarray(self.model.predict(np.ascontiguousarray(x)), np.float64))
        return as_probabilities(np.concatenate(outs))


def as_probabilities(out: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Softmax of logits; outputs that already are probabilities pass unchanged."""
    if out.min() >= 0 and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        return out
    shifted = np.exp(out - out.max(axis=1, keepdims=True))
    probs: npt.NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return probs


def load_registered_model(ref: str, tracking_uri: str) -> RegisteredModel:
    """``NAME`` (latest version) or ``NAME@VERSION`` from the MLflow model registry."""
    import mlflow
    from mlflow.exceptions import MlflowException

    name, _, version = ref.partition("@")
    client = mlflow.MlflowClient(tracking_uri)
    try:
        if version:
            found = client.get_model_version(name, version)
        else:
            versions = client.search_model_versions(f"name = '{name}'")
            if not versions:
                raise NotFound(f"no registered model named {name!r}")
            found = max(versions, key=lambda v: int(v.version))
    except MlflowException as exc:
        raise NotFound(f"registered model {ref!r}: {exc.message}") from exc
    uri = f"models:/{name}/{found.version}"
    classes = _classes_of_run(client, found.run_id, ref)
    with _tracking(tracking_uri):
        model = mlflow.pyfunc.load_model(uri)
    flavors = model.metadata.flavors
    layout = "nhwc" if "keras" in flavors else "nchw"
    shape = model.metadata.get_input_schema().inputs[0].shape  # (-1, C, H, W) or (-1, H, W, C)
    c, h, w = (shape[1], shape[2], shape[3]) if layout == "nchw" else (shape[3], shape[1], shape[2])
    return RegisteredModel(uri, str(found.version), classes, layout, (h, w), c == 1, model)


def _classes_of_run(client: Any, run_id: str | None, ref: str) -> list[str]:
    if run_id is None:
        raise InvalidInput(f"registered model {ref!r} has no run: train it with the workbench")
    with tempfile.TemporaryDirectory(prefix="wb-model-") as tmp:
        try:
            path = client.download_artifacts(run_id, "evaluation/evaluation.json", tmp)
        except Exception as exc:  # MLflow raises several kinds for a missing artifact
            raise InvalidInput(
                f"registered model {ref!r} was not trained by the workbench (no evaluation)"
            ) from exc
        return list(json.loads(Path(path).read_text())["classes"])


def _tracking(uri: str) -> Any:
    from workbench.tracking.client import fluent_tracking_uri

    return fluent_tracking_uri(uri)


def align_classes(
    probs: npt.NDArray[np.float64], model_classes: list[str], project_classes: list[str]
) -> npt.NDArray[np.float64]:
    """Columns reordered to the project's classes; a model class the project lacks is an error."""
    missing = [c for c in model_classes if c not in project_classes]
    if missing:
        raise InvalidInput(f"the model predicts classes the project does not have: {missing}")
    out = np.zeros((len(probs), len(project_classes)))
    for j, name in enumerate(model_classes):
        out[:, project_classes.index(name)] = probs[:, j]
    return out
