"""Projects on a real Label Studio: import, idempotent re-import, local files, bad input."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from tests.labeling.fixtures import LabelStudioSession, write_digits
from workbench.cli import app
from workbench.errors import InvalidInput, NotFound
from workbench.labeling.projects import label_config
from workbench.labeling.service import LabelingService

pytestmark = pytest.mark.slow


def test_folder_with_class_folders_and_flat_images_imports_once(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("mixed")
    written = write_digits(folder, per_class=2, flat=15)
    (folder / "README.txt").write_text("not an image")
    record, result = labeling.create_project("mixed digits", folder, progress=False)
    assert (result.new, result.labeled, result.already) == (35, 20, 0)
    assert result.skipped == ["README.txt"]
    assert record.classes == [str(d) for d in range(10)]

    summary = labeling.project(str(record.id))
    assert (summary["total"], summary["labeled"]) == (35, 20)
    assert summary["per_class"] == {str(d): 2 for d in range(10)}

    # re-import: nothing new; two new files -> two new tasks
    again = labeling.import_images("mixed digits", progress=False)
    assert (again.new, again.already) == (0, 35)
    write_digits(folder, flat=2, offset=1700)
    assert labeling.import_images(str(record.id), progress=False).new == 2

    # tasks point at local-files URLs that Label Studio serves, never at data URIs
    client = labeling.client()
    tasks = list(client.iter_tasks(record.id))
    assert len(tasks) == 37
    assert all(t["data"]["image"].startswith("/data/local-files/?d=") for t in tasks)
    task = next(t for t in tasks if t["data"]["wb_path"] == next(iter(written)))
    response = httpx.get(
        client.url + task["data"]["image"],
        headers={"Authorization": f"Token {labeling.server.token()}"},
    )
    assert response.status_code == 200
    assert response.content == (folder / task["data"]["wb_path"]).read_bytes()


def test_boxes_template_and_label_config():
    config = label_config("boxes", ["car", 'a "quoted" <class>'])
    assert '<RectangleLabels name="bbox" toName="image">' in config
    assert "&quot;quoted&quot; &lt;class&gt;" in config or "'a \"quoted\" &lt;class&gt;'" in config
    with pytest.raises(InvalidInput, match="at least one class"):
        label_config("classification", [])


def test_boxes_project_imports_flat_images(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("boxes")
    write_digits(folder, flat=4)
    record, result = labeling.create_project(
        "box digits", folder, template="boxes", classes=["digit", "blob"], progress=False
    )
    assert result.new == 4 and record.template == "boxes"
    config = labeling.client().project(record.id)["label_config"]
    assert "RectangleLabels" in config and 'value="blob"' in config


def test_bad_input_is_named_and_creates_nothing(
    labeling: LabelingService, label_studio: LabelStudioSession
):
    before = len(labeling.client().projects())
    empty = label_studio.folder("empty")
    with pytest.raises(InvalidInput, match="holds no images"):
        labeling.create_project("empty one", empty, progress=False)
    broken = label_studio.folder("broken")
    write_digits(broken, flat=3)
    (broken / "fake.png").write_text("this is text, not a PNG")
    with pytest.raises(InvalidInput, match=r"not readable images: .*fake\.png"):
        labeling.create_project("broken one", broken, progress=False)
    with pytest.raises(NotFound, match="does not exist"):
        labeling.create_project("missing", label_studio.root / "nope", progress=False)
    with pytest.raises(InvalidInput, match="serves images from under"):
        labeling.create_project("outside", label_studio.root.parent, progress=False)
    with pytest.raises(InvalidInput, match="3 to 50"):
        labeling.create_project("x", broken, progress=False)
    assert len(labeling.client().projects()) == before
    with pytest.raises(NotFound):
        labeling.project("987654")
    with pytest.raises(NotFound, match="no labeling project named"):
        labeling.project("never made")


def test_cli_create_and_list(labeling: LabelingService, label_studio: LabelStudioSession):
    folder = label_studio.folder("cli")
    write_digits(folder, per_class=1, classes=3)
    runner = CliRunner()
    made = runner.invoke(app, ["label", "create", "cli digits", "--images", str(folder), "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["new"] == 3
    listed = runner.invoke(app, ["label", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    mine = next(p for p in json.loads(listed.output) if p["title"] == "cli digits")
    assert mine["labeled"] == 3 and mine["per_class"] == {"0": 1, "1": 1, "2": 1}
    bad = runner.invoke(app, ["label", "create", "cli bad", "--images", str(folder),
                              "--template", "polygons"])  # fmt: skip
    assert bad.exit_code == 2 and "classification or boxes" in bad.output
