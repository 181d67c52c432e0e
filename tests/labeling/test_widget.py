"""The in-notebook labeler without a front end: labels, undo, pages, saved versions."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from PIL import Image

from tests.labeling.fixtures import write_digits
from workbench.errors import InvalidInput, NotFound
from workbench.labeling.widget import Labeler
from workbench.training.data.versions import DatasetRegistry

CLASSES = ["0", "1", "2"]


@pytest.fixture
def registry(tmp_path: Path) -> DatasetRegistry:
    return DatasetRegistry(tmp_path / "datasets")


@pytest.fixture
def flat(tmp_path: Path) -> Path:
    """30 unlabeled digits 0-2 directly in one folder."""
    folder = tmp_path / "flat"
    folder.mkdir()
    write_digits(folder, flat=30, classes=3)
    return folder


def make(folder: Path, registry: DatasetRegistry, **kw: object) -> Labeler:
    kw.setdefault("classes", CLASSES)
    return Labeler(folder, dataset="x", registry=registry, **kw)  # type: ignore[arg-type]


def test_labels_from_set_label_and_messages(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry)
    first, second = lab.items[0]["key"], lab.items[1]["key"]
    lab.set_label(first, "2")
    lab.handle_message({"type": "label", "key": second, "label": "0"})
    assert lab.labels == {first: "2", second: "0"}
    assert [i["label"] for i in lab.items[:3]] == ["2", "0", None]
    assert lab.progress() == {"labeled": 2, "total": 30, "per_class": {"0": 1, "1": 0, "2": 1}}
    assert lab.status == "2 / 30 labeled · page 1/2"


def test_undo_restores_the_previous_label(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry)
    key = lab.items[3]["key"]
    lab.set_label(key, "1")
    lab.set_label(key, "2")
    assert lab.undo() == key
    assert lab.labels == {key: "1"}
    lab.handle_message({"type": "undo"})
    assert lab.labels == {}  # back to unlabeled
    assert lab.items[3]["label"] is None
    assert lab.undo() is None
    assert "nothing to undo" in lab.status


def test_select_messages_move_the_cursor(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry, page_size=6)
    lab.handle_message({"type": "select", "cursor": 4})
    assert lab.cursor == 4
    lab.handle_message({"type": "select", "cursor": 99})
    assert lab.cursor == 5  # clamped to the page
    lab.handle_message({"type": "page", "page": 5})
    assert (lab.page, lab.cursor, len(lab.items)) == (5, 0, 6)


def test_undo_shows_the_image_it_changed(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry, page_size=6)
    lab.go_to(3)
    key = lab.items[4]["key"]
    lab.set_label(key, "0")
    lab.go_to(1)
    lab.undo()
    assert (lab.page, lab.cursor) == (3, 4)
    assert lab.items[lab.cursor]["key"] == key


def test_pages_carry_their_own_thumbnails(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry, page_size=12)
    keys = sorted(p.name for p in flat.iterdir())
    assert (lab.page, lab.pages) == (1, 3)
    assert [i["key"] for i in lab.items] == keys[:12]
    lab.handle_message({"type": "page", "page": 2})
    assert [i["key"] for i in lab.items] == keys[12:24]
    assert (lab.page, lab.cursor) == (2, 0)
    assert lab.status == "0 / 30 labeled · page 2/3"
    lab.go_to(3)
    assert len(lab.items) == 6
    src = lab.items[0]["src"]
    assert src.startswith("data:image/png;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    assert thumb.format == "PNG"
    assert max(thumb.size) <= 96
    assert thumb.size == (96, 96)  # an 8x8 digit, enlarged by whole pixels


def test_large_images_are_shrunk(tmp_path: Path, registry: DatasetRegistry) -> None:
    folder = tmp_path / "big"
    folder.mkdir()
    Image.new("RGB", (640, 320), "teal").save(folder / "wide.png")
    lab = make(folder, registry, classes=["a"])
    thumb = Image.open(io.BytesIO(base64.b64decode(lab.items[0]["src"].split(",", 1)[1])))
    assert thumb.size == (96, 48)


def test_class_folders_give_initial_labels(tmp_path: Path, registry: DatasetRegistry) -> None:
    folder = tmp_path / "classed"
    folder.mkdir()
    written = write_digits(folder, per_class=2, flat=3, classes=3)
    (folder / "README.txt").write_text("not an image")
    lab = Labeler(folder, dataset="x", registry=registry)
    assert lab.classes == CLASSES
    assert lab.labels == {k: str(v) for k, v in written.items() if "/" in k}
    assert lab.progress()["labeled"] == 6
    assert lab.progress()["total"] == 9
    assert lab.status == "6 / 9 labeled · page 1/1 · skipped non-images: README.txt"
    from_folder = next(k for k in written if "/" in k)
    by_hand = next(k for k in written if "/" not in k)
    lab.set_label(by_hand, "1")
    items = {i.source: i for i in registry.load(lab.save()).items}
    assert len(items) == 7
    assert (items[from_folder].label, items[from_folder].annotator) == (
        lab.labels[from_folder],
        None,
    )
    assert items[by_hand].annotator is not None


def test_save_publishes_only_labeled_images(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry)
    chosen = {i["key"]: label for i, label in zip(lab.items, ["0", "1", "2"], strict=False)}
    for key, label in chosen.items():
        lab.set_label(key, label)
    keys = list(chosen)
    ref = lab.save()
    assert ref == "x@v1"
    assert "saved x@v1 (3 images)" in lab.status
    manifest = registry.load(ref, verify_files=True)
    assert manifest.classes == CLASSES
    assert {i.source: i.label for i in manifest.items} == chosen
    assert {i.provenance for i in manifest.items} == {"manual"}
    assert all(i.annotator and i.annotated_at for i in manifest.items)

    assert lab.save() == "x@v1"  # unchanged: the same version
    assert "x@v1 is up to date" in lab.status
    assert registry.versions("x") == [1]

    lab.set_label(keys[1], "2")
    assert lab.save() == "x@v2"
    diff = registry.diff("x@v1", "x@v2")
    assert diff.relabelled == [{"item": keys[1], "from": "1", "to": "2"}]
    assert (diff.added, diff.removed) == ([], [])


def test_label_then_undo_saves_the_same_version(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry)
    key = lab.items[0]["key"]
    lab.set_label(key, "1")
    assert lab.save() == "x@v1"
    lab.set_label(key, "2")
    lab.undo()
    assert lab.save() == "x@v1"


def test_save_uses_the_home_registry(flat: Path, wb_home: Path) -> None:
    lab = Labeler(flat, classes=CLASSES, dataset="home-quick")
    lab.set_label(lab.items[0]["key"], "0")
    assert lab.save() == "home-quick@v1"
    assert list(wb_home.rglob("v1.json"))


def test_more_than_nine_classes(flat: Path, registry: DatasetRegistry) -> None:
    classes = [f"c{i}" for i in range(12)]
    lab = make(flat, registry, classes=classes)
    lab.handle_message({"type": "label", "key": lab.items[0]["key"], "label": "c11"})
    assert lab.progress()["per_class"]["c11"] == 1


def test_errors_name_what_is_wrong(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry)
    key = lab.items[0]["key"]
    with pytest.raises(InvalidInput, match=r"unknown class 'cat'.*\['0', '1', '2'\]"):
        lab.set_label(key, "cat")
    with pytest.raises(InvalidInput, match=r"no image 'nope.png'.*d0000.png"):
        lab.set_label("nope.png", "1")
    with pytest.raises(InvalidInput, match=r"nothing to save to x"):
        lab.save()
    with pytest.raises(InvalidInput, match=r"page 9 does not exist: pages are 1-2"):
        lab.go_to(9)
    with pytest.raises(InvalidInput, match=r"unknown message type 'zap'"):
        lab.handle_message({"type": "zap"})
    with pytest.raises(InvalidInput, match=r"message 'label' lacks field 'key'"):
        lab.handle_message({"type": "label", "label": "1"})
    with pytest.raises(InvalidInput, match=r"page_size must be at least 1"):
        lab.page_size = 0
    with pytest.raises(InvalidInput, match=r"message 'page' has a field of the wrong type"):
        lab.handle_message({"type": "page", "page": "two"})
    with pytest.raises(InvalidInput, match=r"unknown class 'cat'"):
        lab.labels = {key: "cat"}
    assert lab.labels == {}


def test_front_end_errors_go_to_the_status_line(flat: Path, registry: DatasetRegistry) -> None:
    lab = make(flat, registry)
    lab._on_msg(lab, {"type": "label", "key": lab.items[0]["key"], "label": "cat"}, [])
    assert "unknown class 'cat'" in lab.status
    assert lab.labels == {}


def test_bad_folders_and_classes(tmp_path: Path, flat: Path, registry: DatasetRegistry) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        make(tmp_path / "missing", registry)
    with pytest.raises(InvalidInput, match="has no class folders: pass classes"):
        Labeler(flat, dataset="x", registry=registry)
    with pytest.raises(InvalidInput, match=r"classes listed twice: \['1'\]"):
        make(flat, registry, classes=["1", "1"])
    with pytest.raises(InvalidInput, match="give a name"):
        Labeler(flat, classes=CLASSES, dataset="x@v2", registry=registry)
    classed = tmp_path / "classed"
    classed.mkdir()
    write_digits(classed, per_class=1, classes=3)
    with pytest.raises(InvalidInput, match=r"class folders \['2'\].*not in classes"):
        make(classed, registry, classes=["0", "1"])


def test_autolabel_prelabels_the_rest_and_hand_labels_win(
    tmp_path: Path, registry: DatasetRegistry
) -> None:
    truth = write_digits(tmp_path, flat=120, classes=3)
    lab = Labeler(tmp_path, classes=["0", "1", "2"], dataset="quick", registry=registry)
    with pytest.raises(InvalidInput, match="at least 5 labeled examples per class"):
        lab.autolabel()
    given: dict[str, int] = {}
    for key, digit in truth.items():  # what a person does with the number keys
        if sum(1 for d in given.values() if d == digit) < 6:
            lab.set_label(key, str(digit))
            given[key] = digit
    report = lab.autolabel()
    assert report["auto_labeled"] == 120 - 18 and report["trained_on"] == 18
    auto = {i["key"]: i for i in lab.items if "auto" in i}
    assert auto and all(0 < i["confidence"] <= 1 for i in auto.values())
    assert "auto-labeled 102" in lab.status
    rest = [k for k in truth if k not in given]
    correct = sum(lab.auto_labels[k][0] == str(truth[k]) for k in rest)
    assert correct / len(rest) > 0.8, correct
    wrong = (
        next(k for k in rest if lab.auto_labels[k][0] != str(truth[k]))
        if correct < len(rest)
        else rest[0]
    )
    lab.set_label(wrong, str(truth[wrong]))  # corrected by hand
    manifest = registry.load(lab.save())
    by_source = {item.source: item for item in manifest.items}
    assert len(by_source) == 120
    assert by_source[wrong].provenance == "manual" and by_source[wrong].label == str(truth[wrong])
    kinds = [item.provenance for item in manifest.items]
    assert kinds.count("manual") == 19 and kinds.count("auto") == 101
    assert all(i.confidence is not None for i in manifest.items if i.provenance == "auto")
