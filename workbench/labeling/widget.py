"""The in-notebook labeler: an image grid, keyboard shortcuts, saved as ``name@vN``.

A quick way to label a folder without Label Studio::

    lab = Labeler("images/", classes=["cat", "dog"], dataset="pets-quick")
    lab          # the grid: 1-9 label the selected image, arrows move, n/p page, u undo
    lab.autolabel()  # after a few labels per class: pre-label the rest (shown as "auto")
    lab.save()   # -> "pets-quick@v1", the same immutable versions training reads

``root/<class>/<image>`` starts labeled ``class``, ``root/<image>`` unlabeled. ``labels``
(relative path -> class) is the source of truth; the front end only sends messages
(``label``, ``undo``, ``page``, ``select``) that :meth:`Labeler.handle_message` applies, so
everything it does is also a Python call. Only the current page's thumbnails go to the browser.
The front end is plain ES module + CSS beside this file (``widget.js``, ``widget.css``).
"""

from __future__ import annotations

import base64
import getpass
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from workbench.errors import InvalidInput, NotFound, WorkbenchError
from workbench.labeling.autolabel import MIN_PER_CLASS, autolabel_images
from workbench.labeling.scan import ScannedImage, scan_images
from workbench.training.data.versions import (
    DatasetRegistry,
    NewItem,
    dataset_registry,
    parse_ref,
)

THUMBNAIL_SIDE = 96
SHORTCUT_KEYS = 9  # keys 1-9 label with the first nine classes
MESSAGE_TYPES = ("label", "undo", "page", "select")

FRONT_END = Path(__file__).parent  # widget.js, widget.css: plain files, no build step


def thumbnail_uri(path: Path, side: int = THUMBNAIL_SIDE) -> str:
    """A PNG data URI of ``path`` with its longer side about ``side`` px (tiny images are
    enlarged by whole pixels, so an 8x8 digit stays crisp)."""
    from PIL import Image

    with Image.open(path) as opened:
        img: Image.Image = opened
        if img.mode not in ("L", "RGB", "RGBA"):
            alpha = "A" in img.mode or "transparency" in img.info
            img = img.convert("RGBA" if alpha else "RGB")
        longer = max(img.size)
        if longer > side:
            img = img.copy()
            img.thumbnail((side, side), Image.Resampling.LANCZOS)
        elif side // longer > 1:
            factor = side // longer
            img = img.resize((img.width * factor, img.height * factor), Image.Resampling.NEAREST)
        buffer = io.BytesIO()
        img.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _annotator() -> str:
    try:
        return getpass.getuser() or "notebook"
    except (KeyError, OSError):  # no login name in this container
        return "notebook"


def _check_classes(classes: Sequence[str], folder_labels: set[str], root: Path) -> list[str]:
    if not classes:
        raise InvalidInput(f"{root} has no class folders: pass classes=[...] to label into")
    names = list(classes)
    bad = [c for c in names if not isinstance(c, str) or not c.strip()]
    if bad:
        raise InvalidInput(f"classes must be non-empty strings, got {bad!r}")
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise InvalidInput(f"classes listed twice: {dupes}")
    stray = sorted(folder_labels - set(names))
    if stray:
        raise InvalidInput(f"class folders {stray} under {root} are not in classes {names}")
    return names


class Labeler(anywidget.AnyWidget):
    """Label the images under ``root`` into ``classes`` and save them as ``dataset@vN``."""

    _esm = FRONT_END / "widget.js"
    _css = FRONT_END / "widget.css"
    items = traitlets.List(traitlets.Dict()).tag(sync=True)
    classes = traitlets.List(traitlets.Unicode()).tag(sync=True)
    cursor = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(1).tag(sync=True)  # 1-based, as the status line says
    pages = traitlets.Int(1).tag(sync=True)
    page_size = traitlets.Int(24).tag(sync=True)
    labels = traitlets.Dict(traitlets.Unicode()).tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        root: str | Path,
        classes: Sequence[str] | None = None,
        *,
        dataset: str,
        page_size: int = 24,
        registry: DatasetRegistry | None = None,
    ) -> None:
        folder = Path(root).expanduser().resolve()
        if not folder.is_dir():
            raise NotFound(f"image folder {folder} does not exist")
        name, version = parse_ref(dataset)
        if version is not None:
            raise InvalidInput(f"dataset {dataset!r}: give a name; save() picks the version")
        images, skipped = scan_images(folder)
        folder_labels = {i.label for i in images if i.label is not None}
        chosen = _check_classes(
            sorted(folder_labels) if classes is None else classes, folder_labels, folder
        )
        self.root, self.dataset = folder, name
        self._registry = registry
        self._images: dict[str, ScannedImage] = {i.source: i for i in images}
        self._keys = [i.source for i in images]
        self._stamps: dict[str, tuple[str, str]] = {}  # key -> (annotator, annotated_at)
        self._undo: list[tuple[str, str | None, tuple[str, str] | None]] = []
        self._thumbs: dict[str, str] = {}
        self._auto: dict[str, tuple[str, float]] = {}  # key -> (pre-label, confidence)
        self._note = (
            f"skipped non-images: {', '.join(skipped[:3])}{' ...' * (len(skipped) > 3)}"
            if skipped
            else ""
        )
        self._front_selects = False  # a "select" from the front end is being applied
        initial = {i.source: i.label for i in images if i.label is not None}
        super().__init__(classes=chosen, labels=initial, page_size=page_size)
        self.on_msg(self._on_msg)
        self._render()

    @traitlets.validate("page_size")
    def _valid_page_size(self, proposal: dict[str, Any]) -> int:
        size = int(proposal["value"])
        if size < 1:
            raise InvalidInput(f"page_size must be at least 1, got {size}")
        return size

    @traitlets.observe("page_size")
    def _page_size_changed(self, change: dict[str, Any]) -> None:
        if hasattr(self, "_keys"):
            self.page = 1
            self._render(cursor=0)

    @traitlets.validate("labels")
    def _valid_labels(self, proposal: dict[str, Any]) -> dict[str, str]:
        labels: dict[str, str] = proposal["value"]
        for key, label in labels.items():
            self._check_key(key)
            self._check_class(label)
        return labels

    @traitlets.validate("cursor")
    def _valid_cursor(self, proposal: dict[str, Any]) -> int:
        return max(0, min(int(proposal["value"]), max(len(self.items) - 1, 0)))

    @traitlets.observe("cursor")
    def _cursor_moved(self, change: dict[str, Any]) -> None:
        # The selection travels as messages, ordered with label/undo/page ones (state
        # updates from the browser are throttled and could overtake them).
        if not self._front_selects:
            self.send({"type": "select", "cursor": change["new"]})

    def _select_from_front(self, cursor: int) -> None:
        self._front_selects = True
        try:
            self.cursor = cursor
        finally:
            self._front_selects = False
        if self.cursor != cursor:  # clamped to the page: put the front end right
            self.send({"type": "select", "cursor": self.cursor})

    def _check_key(self, key: str) -> None:
        if key not in self._images:
            some = ", ".join(self._keys[:5]) + (" ..." if len(self._keys) > 5 else "")
            raise InvalidInput(f"no image {key!r} under {self.root} (images: {some})")

    def _check_class(self, label: str | None) -> None:
        if label is not None and label not in self.classes:
            raise InvalidInput(f"unknown class {label!r}: choose one of {list(self.classes)}")

    def set_label(self, key: str, label: str | None) -> None:
        """Label image ``key`` (its path under root) ``label``; None clears it. Undoable."""
        self._check_key(key)
        self._check_class(label)
        before = self.labels.get(key)
        if before == label:
            return
        self._undo.append((key, before, self._stamps.get(key)))
        stamp = (_annotator(), datetime.now(UTC).isoformat(timespec="seconds"))
        self._assign(key, label, stamp if label is not None else None)
        self._note = ""
        self._render()

    def undo(self) -> str | None:
        """Take back the last label change and show its image; the key, or None if none."""
        if not self._undo:
            self._note = "nothing to undo"
            self._render()
            return None
        key, label, stamp = self._undo.pop()
        self._assign(key, label, stamp)
        index = self._keys.index(key)
        self.page = index // self.page_size + 1
        self._note = f"undid {key}"
        self._render(cursor=index % self.page_size)
        return key

    def _assign(self, key: str, label: str | None, stamp: tuple[str, str] | None) -> None:
        labels = dict(self.labels)
        if label is None:
            labels.pop(key, None)
        else:
            labels[key] = label
        if stamp is None:
            self._stamps.pop(key, None)
        else:
            self._stamps[key] = stamp
        self.labels = labels

    def go_to(self, page: int) -> None:
        """Show page ``page`` (1-based) with its first image selected."""
        if not 1 <= page <= self.pages:
            raise InvalidInput(f"page {page} does not exist: pages are 1-{self.pages}")
        self.page = page
        self._render(cursor=0)

    def handle_message(self, msg: dict[str, Any]) -> None:
        """Apply one front-end message: ``label`` (key, label), ``undo``, ``page`` (page),
        ``select`` (cursor: the selected index on the page)."""
        kind = msg.get("type")
        try:
            if kind == "label":
                self.set_label(str(msg["key"]), msg.get("label"))
            elif kind == "undo":
                self.undo()
            elif kind == "page":
                self.go_to(int(msg["page"]))
            elif kind == "select":
                self._select_from_front(int(msg["cursor"]))
            else:
                raise InvalidInput(f"unknown message type {kind!r}: one of {list(MESSAGE_TYPES)}")
        except KeyError as exc:
            raise InvalidInput(f"message {kind!r} lacks field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:  # e.g. {"type": "page", "page": "two"}
            raise InvalidInput(f"message {kind!r} has a field of the wrong type: {exc}") from exc

    def _on_msg(self, _widget: Any, content: dict[str, Any], _buffers: Any) -> None:
        try:
            self.handle_message(content)
        except WorkbenchError as exc:  # the front end shows it where the user looks
            self._note = str(exc)
            self._render()

    def progress(self) -> dict[str, Any]:
        """How far labeling is: labeled, total and labeled per class."""
        per_class = dict.fromkeys(self.classes, 0)
        for label in self.labels.values():
            per_class[label] += 1
        return {"labeled": len(self.labels), "total": len(self._keys), "per_class": per_class}

    def autolabel(self, min_per_class: int = MIN_PER_CLASS) -> dict[str, Any]:
        """Pre-label every unlabeled image from the labeled ones (at least ``min_per_class``
        each). :meth:`save` publishes them with provenance ``auto`` and their confidence; a
        label given by hand afterwards wins."""
        done = [k for k in self._keys if k in self.labels]
        todo = [k for k in self._keys if k not in self.labels]
        found = autolabel_images(
            [self._images[k].path for k in done], [self.labels[k] for k in done],
            [self._images[k].path for k in todo], list(self.classes), min_per_class,
        )  # fmt: skip
        self._auto = dict(zip(todo, zip(found.labels, found.confidences, strict=True),
                              strict=True))  # fmt: skip
        accuracy = found.held_out_accuracy
        self._note = f"auto-labeled {len(todo)} (held-out accuracy {accuracy:.0%})"
        self._render()
        return {"auto_labeled": len(todo), "held_out_accuracy": accuracy,
                "trained_on": found.n_train}  # fmt: skip

    @property
    def auto_labels(self) -> dict[str, tuple[str, float]]:
        """Image -> (pre-label, confidence) from :meth:`autolabel`, for images not labeled by
        hand since."""
        return {k: v for k, v in self._auto.items() if k not in self.labels}

    def save(self) -> str:
        """Publish the labeled images as the next version of the dataset; its ref.

        Unchanged labels give back the version already saved. Items carry who labeled them
        here and when; labels that came from class folders carry neither (nobody here did).
        Auto-labels (:meth:`autolabel`) of images not labeled by hand go in as ``auto``."""
        auto = [
            NewItem(path=self._images[key].path, source=key, label=label, provenance="auto",
                    model_version="autolabel", confidence=round(confidence, 4))
            for key, (label, confidence) in self.auto_labels.items()
        ]  # fmt: skip
        items = auto + [
            NewItem(
                path=self._images[key].path, source=key, label=self.labels[key],
                annotator=self._stamps[key][0] if key in self._stamps else None,
                annotated_at=self._stamps[key][1] if key in self._stamps else None,
                provenance="manual",
            )
            for key in self._keys
            if key in self.labels
        ]  # fmt: skip
        if not items:
            raise InvalidInput(f"nothing to save to {self.dataset}: no image is labeled yet")
        registry = self._registry or dataset_registry()
        manifest, created = registry.publish(self.dataset, list(self.classes), items)
        count = f"{len(items)} image{'s' if len(items) != 1 else ''}"
        self._note = (
            f"saved {manifest.ref} ({count})"
            if created
            else f"{manifest.ref} is up to date ({count})"
        )
        self._render()
        return manifest.ref

    def _auto_of(self, key: str) -> dict[str, Any]:
        if key in self.labels or key not in self._auto:
            return {}
        label, confidence = self._auto[key]
        return {"auto": label, "confidence": confidence}

    def _thumbnail(self, key: str) -> dict[str, str]:
        if key not in self._thumbs:
            try:
                self._thumbs[key] = thumbnail_uri(self._images[key].path)
            except (OSError, ValueError) as exc:  # changed on disk since the scan
                return {"src": "", "error": str(exc)}
        return {"src": self._thumbs[key]}

    def _render(self, cursor: int | None = None) -> None:
        """Send the current page's items, the selection and then the status line."""
        self.pages = max(1, -(-len(self._keys) // self.page_size))
        self.page = min(max(self.page, 1), self.pages)
        start = (self.page - 1) * self.page_size
        keys = self._keys[start : start + self.page_size]
        self.items = [
            {"key": k, "label": self.labels.get(k), **self._auto_of(k), **self._thumbnail(k)}
            for k in keys
        ]
        self.cursor = self.cursor if cursor is None else cursor  # clamped to this page
        done = f"{len(self.labels)} / {len(self._keys)} labeled · page {self.page}/{self.pages}"
        self.status = f"{done} · {self._note}" if self._note else done
