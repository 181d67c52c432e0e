"""The model in the loop on a real Label Studio: auto-label, next, accept, errors, models."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from tests.labeling.fixtures import LabelStudioSession, write_digits
from workbench.errors import InvalidInput, NotFound
from workbench.labeling.service import LabelingService

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(labeling: LabelingService, label_studio: LabelStudioSession) -> dict[str, object]:
    """10 labeled digits per class and 300 unlabeled ones, in one project."""
    folder = label_studio.folder("assist")
    truth = write_digits(folder, per_class=10, flat=300)
    title = f"assist {folder.name}"
    record, _ = labeling.create_project(title, folder, progress=False)
    return {"title": title, "record": record, "truth": truth, "folder": folder}


def _predictions(labeling: LabelingService, project: int) -> dict[str, dict]:
    out = {}
    for task in labeling.client().iter_tasks(project):
        if task.get("predictions"):
            out[task["data"]["wb_path"]] = {**task["predictions"][-1], "task": task["id"]}
    return out


def test_autolabel_reports_held_out_accuracy_and_uploads_scored_predictions(
    labeling: LabelingService, seeded: dict
):
    out = labeling.predict(seeded["title"], auto=True, progress=False)
    assert out["held_out_accuracy"] >= 0.8 and out["cv_folds"] == 5 and out["trained_on"] == 100
    assert out["predicted"] == 300 and out["model_version"].startswith("auto-")
    assert f"acc{out['held_out_accuracy']:.2f}" in out["model_version"]

    # read back through the SDK: one prediction per unlabeled task, with version and score
    got = _predictions(labeling, seeded["record"].id)
    assert len(got) == 300 and all("/" not in path for path in got)
    right = sum(p["result"][0]["value"]["choices"][0] == str(seeded["truth"][k])
                for k, p in got.items())  # fmt: skip
    assert right / 300 >= 0.8
    assert all(p["model_version"] == out["model_version"] and 0 <= p["score"] <= 1
               for p in got.values())  # fmt: skip
    project = labeling.client().project(seeded["record"].id)
    assert project["sampling"] == "Uncertainty sampling"
    assert project["model_version"] == out["model_version"]

    # next: the most uncertain unlabeled tasks, in the order the scores say
    batch = labeling.next_batch(seeded["title"], n=10)
    scores = [t["uncertainty"] for t in batch["tasks"]]
    assert len(scores) == 10 and scores == sorted(scores, reverse=True)
    expected = sorted((1 - p["score"] for p in got.values()), reverse=True)[:10]
    assert np.allclose(scores, expected, atol=1e-5)
    # ... and Label Studio's own uncertainty-sampling order serves the same task first
    token = labeling.server.token()
    served = httpx.get(f"{labeling.client().url}/api/projects/{seeded['record'].id}/next/",
                       headers={"Authorization": f"Token {token}"})  # fmt: skip
    assert served.status_code == 200
    lowest = min(p["score"] for p in got.values())
    assert next(p["score"] for p in got.values() if p["task"] == served.json()["id"]) == lowest

    margin = labeling.next_batch(seeded["title"], n=5, strategy="margin")
    assert len(margin["tasks"]) == 5
    diverse = labeling.next_batch(seeded["title"], n=5, strategy="k-center")
    assert len({t["task"] for t in diverse["tasks"]}) == 5
    with pytest.raises(InvalidInput, match="unknown strategy"):
        labeling.next_batch(seeded["title"], n=5, strategy="random")


def test_accepted_auto_labels_export_with_their_provenance(labeling: LabelingService, seeded: dict):
    labeling.predict(seeded["title"], auto=True, progress=False)
    accepted = labeling.accept(seeded["title"], min_confidence=0.9)
    assert accepted["accepted"] > 0 and accepted["accepted"] + accepted["below_threshold"] == 300
    exported = labeling.export(seeded["title"], f"auto-{seeded['record'].id}")
    assert exported["provenance"] == {"manual": 100, "auto": accepted["accepted"]}
    manifest = labeling.registry.load(exported["ref"])
    auto = [i for i in manifest.items if i.provenance == "auto"]
    assert all(i.model_version == accepted["model_version"] and i.confidence >= 0.9 for i in auto)
    right = sum(i.label == str(seeded["truth"][i.source]) for i in auto)
    assert right / len(auto) >= 0.9


def test_too_few_labels_and_no_predictions_are_clear(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("few")
    write_digits(folder, per_class=3, flat=20, classes=3)
    title = f"few {folder.name}"
    labeling.create_project(title, folder, progress=False)
    with pytest.raises(InvalidInput, match=r"at least 5 labeled examples per class: '0' has 3"):
        labeling.predict(title, auto=True, progress=False)
    with pytest.raises(InvalidInput, match=r"no current predictions.*k-center"):
        labeling.next_batch(title)
    assert len(labeling.next_batch(title, n=4, strategy="k-center")["tasks"]) == 4
    with pytest.raises(InvalidInput, match="exactly one of --auto or --model"):
        labeling.predict(title, progress=False)


def test_flipped_labels_are_found_and_shown_in_a_view(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("flipped")
    truth = write_digits(folder, per_class=30)
    rng = np.random.default_rng(7)
    flipped = set()
    for rel in rng.choice(sorted(truth), size=20, replace=False):
        digit = truth[rel]
        wrong = (digit + int(rng.integers(1, 10))) % 10
        target = folder / str(wrong) / Path(rel).name
        shutil.move(folder / rel, target)
        flipped.add(f"{wrong}/{Path(rel).name}")
    title = f"flipped {folder.name}"
    labeling.create_project(title, folder, progress=False)
    out = labeling.label_errors(title, top=50)
    found = {s["path"] for s in out["suspects"]}
    assert len(out["suspects"]) <= 50 and len(found & flipped) >= 16, len(found & flipped)
    assert out["view"] is not None and f"tab={out['view']}" in out["url"]
    views = labeling.client().sdk.views.list(project=out["project"])
    assert any(v.id == out["view"] for v in views)


MODELS = {
    "torch": ({"name": "small_cnn", "params": {"width": 16}}, {"lr": 0.05}),
    "keras": (
        {"name": "keras_small_cnn", "params": {"width": 16}},
        {"optimizer": "adam", "lr": 0.005},
    ),
}


@pytest.mark.parametrize("framework", sorted(MODELS))
def test_registered_model_prelabels_with_its_version(
    labeling: LabelingService, seeded: dict, tmp_path: Path, framework: str
):
    full = labeling.export(seeded["title"], f"seed-{seeded['record'].id}")
    model, train = MODELS[framework]
    name = f"prelabeler-{framework}-{seeded['record'].id}"
    spec = {
        "name": name, "experiment": "prelabel", "model": model,
        "data": {"dataset": full["ref"], "grayscale": True, "test_fraction": 0.2},
        "train": {"epochs": 30, "batch_size": 16, **train}, "register_model": name,
    }  # fmt: skip
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    # trained as a job's rank runs it (its own process: TensorFlow stays out of pytest)
    done = subprocess.run(
        [sys.executable, "-m", "workbench.training.run", str(path)],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = labeling.predict(seeded["title"], model=name, progress=False)
    assert out["model_version"] == f"{name}@1" and out["predicted"] == 300
    got = _predictions(labeling, seeded["record"].id)
    mine = {k: p for k, p in got.items() if p["model_version"] == f"{name}@1"}
    assert len(mine) == 300
    right = sum(p["result"][0]["value"]["choices"][0] == str(seeded["truth"][k])
                for k, p in mine.items())  # fmt: skip
    assert right / 300 >= 0.6, right
    with pytest.raises(NotFound, match="no registered model named 'nope'"):
        labeling.predict(seeded["title"], model="nope", progress=False)
