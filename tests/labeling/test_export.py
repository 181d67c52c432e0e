"""Label Studio annotations -> immutable dataset versions -> a 2-rank training run."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import mlflow
import pytest
import yaml
from typer.testing import CliRunner

from tests.labeling.fixtures import LabelStudioSession, write_digits
from workbench.cli import app
from workbench.errors import InvalidInput
from workbench.labeling.service import LabelingService

pytestmark = pytest.mark.slow


def _choice(label: str) -> list[dict[str, object]]:
    value = {"choices": [label]}
    return [{"from_name": "label", "to_name": "image", "type": "choices", "value": value}]


def test_export_versions_diff_and_provenance(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("export")
    written = write_digits(folder, per_class=2, flat=4, classes=3)
    record, _ = labeling.create_project("export digits", folder, progress=False)
    client = labeling.client()
    tasks = {t["data"]["wb_path"]: t for t in client.iter_tasks(record.id)}
    flat = sorted(p for p in tasks if "/" not in p)
    client.create_annotation(tasks[flat[0]]["id"], _choice(str(written[flat[0]])))

    v1 = labeling.export("export digits", "exp-digits")
    assert v1["created"] and v1["ref"] == "exp-digits@v1" and v1["items"] == 7
    assert v1["provenance"] == {"manual": 7} and v1["parent"] is None
    manifest = json.loads(Path(v1["manifest"]).read_text())
    item = next(i for i in manifest["items"] if i["source"] == flat[0])
    assert item["label"] == str(written[flat[0]])
    assert item["annotator"] == "admin@workbench.local" and item["annotated_at"]
    assert stat.S_IMODE(Path(v1["manifest"]).stat().st_mode) == 0o444

    # nothing changed: the same version comes back, nothing new is written
    again = labeling.export(str(record.id), "exp-digits")
    assert not again["created"] and again["ref"] == "exp-digits@v1"
    assert labeling.registry.versions("exp-digits") == [1]

    # one more label, one relabel -> v2 whose diff says exactly that
    client.create_annotation(tasks[flat[1]]["id"], _choice(str(written[flat[1]])))
    labeled = next(p for p in tasks if p.startswith("0/"))
    client.create_annotation(tasks[labeled]["id"], _choice("2"))
    v2 = labeling.export("export digits", "exp-digits")
    assert v2["ref"] == "exp-digits@v2" and v2["parent"] == "exp-digits@v1" and v2["items"] == 8
    diff = labeling.diff("exp-digits@v1", "exp-digits@v2")
    assert diff["added"] == [flat[1]] and diff["removed"] == []
    assert diff["relabelled"] == [{"item": labeled, "from": "0", "to": "2"}]

    result = CliRunner().invoke(app, ["datasets", "diff", "exp-digits@v1", "exp-digits@v2"])
    assert result.exit_code == 0, result.output
    assert "+1 -0 ~1 relabelled" in result.output and f"{labeled}: 0 -> 2" in result.output
    listed = CliRunner().invoke(app, ["datasets", "list", "--json"])
    mine = next(d for d in json.loads(listed.output) if d["name"] == "exp-digits")
    assert mine["versions"] == [1, 2]

    # a version re-opens as a project: its images, served from the registry, labeled
    reopened, result = labeling.create_project("reopen v2", dataset="exp-digits@v2", progress=False)
    assert (result.new, result.labeled) == (8, 8) and reopened.dataset == "exp-digits@v2"
    summary = labeling.project(str(reopened.id))
    assert summary["labeled"] == summary["total"] == 8
    assert (
        summary["per_class"] == {"0": 1, "1": 3, "2": 4} or sum(summary["per_class"].values()) == 8
    )
    again = labeling.export("reopen v2", "exp-digits-copy")
    assert again["content_hash"] != v2["content_hash"] or again["items"] == 8
    copy = labeling.registry.diff("exp-digits@v2", again["ref"]).to_dict()
    assert copy["summary"] == {"added": 0, "removed": 0, "relabelled": 0}


def test_unknown_label_or_changed_file_stops_the_export_with_nothing_written(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("badexport")
    write_digits(folder, per_class=1, flat=2, classes=2)
    record, _ = labeling.create_project("bad export", folder, progress=False)
    client = labeling.client()
    tasks = {t["data"]["wb_path"]: t for t in client.iter_tasks(record.id)}
    flat = sorted(p for p in tasks if "/" not in p)
    client.create_annotation(tasks[flat[0]]["id"], _choice("seven"))
    with pytest.raises(InvalidInput, match=rf"task {tasks[flat[0]]['id']} .*\['seven'\]"):
        labeling.export("bad export", "bad-digits")
    assert labeling.registry.versions("bad-digits") == []

    client.create_annotation(tasks[flat[0]]["id"], _choice("1"))
    (folder / flat[0]).write_bytes((folder / "0").iterdir().__next__().read_bytes())
    with pytest.raises(InvalidInput, match="changed since it was imported"):
        labeling.export("bad export", "bad-digits")
    assert labeling.registry.versions("bad-digits") == []
    with pytest.raises(InvalidInput, match="NAME@vN"):
        labeling.export("bad export", "bad name!")


@pytest.mark.mpi
def test_two_ranks_train_on_an_exported_version_and_the_run_names_it(
    labeling: LabelingService, label_studio: LabelStudioSession, mpirun, tmp_path: Path
):
    folder = label_studio.folder("train")
    write_digits(folder, per_class=60)
    labeling.create_project("train digits", folder, progress=False)
    exported = labeling.export("train digits", "train-digits")
    spec = {
        "name": "from-labels",
        "experiment": "labels",
        "model": {"name": "small_cnn", "params": {"width": 16}},
        "data": {"dataset": exported["ref"], "grayscale": True},
        "train": {"epochs": 6, "batch_size": 16, "lr": 0.05},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    snippet = f"""
import json, torch
torch.set_num_threads(1)
from pathlib import Path
from workbench.training.run import run
from workbench.training.spec import load_spec
out = run(load_spec(Path({str(path)!r})), Path({str(tmp_path)!r}))
print(json.dumps({{"accuracy": out["accuracy"]}}))
"""
    result = mpirun(snippet, n=2, timeout=600, env=label_studio.env)
    accuracy = json.loads(result.outputs[0].strip().splitlines()[-1])["accuracy"]
    assert accuracy >= 0.8
    tracking = mlflow.MlflowClient(labeling.settings.mlflow_tracking_uri)
    experiment = tracking.get_experiment_by_name("labels")
    (run,) = tracking.search_runs([experiment.experiment_id])
    (used,) = run.inputs.dataset_inputs
    assert used.dataset.name == "train-digits@v1"
    assert used.dataset.digest == exported["content_hash"][:32]

    # a spec naming no version, or a version that does not exist, fails before ranks start
    from workbench.training.spec import check_spec, parse_spec

    for ref, message in (("train-digits", "name a version"), ("train-digits@v9", "v9 does not")):
        bad = parse_spec({**spec, "data": {"dataset": ref}})
        with pytest.raises(Exception, match=message):
            check_spec(bad)
