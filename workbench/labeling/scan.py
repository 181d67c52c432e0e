"""What an image folder holds: images (labeled by their class folder, or not), hashed.

``root/<image>`` is unlabeled, ``root/<class>/<image>`` is labeled ``class``. Files with
an image suffix must decode (a broken one is named in the error); other files and hidden
ones are skipped and listed, so a stray README does not stop an import.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InvalidInput
from workbench.training.data.manifest import file_sha256
from workbench.training.data.sources import IMAGE_SUFFIXES


@dataclass(frozen=True)
class ScannedImage:
    path: Path
    source: str  # path relative to the folder, posix
    sha256: str
    label: str | None


def _check_image(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        return f"{path}: {exc}"
    return None


def _candidates(root: Path) -> tuple[list[tuple[Path, str | None]], list[str]]:
    found: list[tuple[Path, str | None]] = []
    skipped: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for inner in sorted(entry.iterdir()):
                if inner.name.startswith("."):
                    continue
                if inner.is_file() and inner.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((inner, entry.name))
                else:
                    skipped.append(inner.relative_to(root).as_posix())
        elif entry.suffix.lower() in IMAGE_SUFFIXES:
            found.append((entry, None))
        else:
            skipped.append(entry.name)
    return found, skipped


def scan_images(root: Path) -> tuple[list[ScannedImage], list[str]]:
    """The images under ``root`` (flat or one folder per class) and the files skipped."""
    candidates, skipped = _candidates(root)
    if not candidates:
        raise InvalidInput(
            f"{root} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}), neither directly "
            "nor in class folders"
        )
    with ThreadPoolExecutor(max_workers=4) as pool:
        broken = [b for b in pool.map(_check_image, [p for p, _ in candidates]) if b]
        if broken:
            more = f" (and {len(broken) - 5} more)" if len(broken) > 5 else ""
            raise InvalidInput(f"not readable images: {'; '.join(broken[:5])}{more}")
        hashes = list(pool.map(file_sha256, [p for p, _ in candidates]))
    return [
        ScannedImage(path, path.relative_to(root).as_posix(), sha, label)
        for (path, label), sha in zip(candidates, hashes, strict=True)
    ], skipped
