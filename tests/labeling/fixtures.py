"""A real Label Studio for the tests (labeling, REST), started once per test session.

Its workbench home, its files root and the images the tests make all live in one
session folder; each test gets its own image folder and project titles.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workbench.config import Settings, labelstudio_public_path
from workbench.labeling.server import LabelStudioServer
from workbench.labeling.service import LabelingService

_names = itertools.count()
# The Jupyter base_url the proxy tests serve Label Studio under (not "/": the prefix must
# really travel); the session's server is started for it.
JUPYTER_BASE_URL = "/user/wb/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabelStudioSession:
    root: Path
    env: dict[str, str]

    def settings(self) -> Settings:
        return Settings(**{k.removeprefix("WORKBENCH_").lower(): v for k, v in self.env.items()})

    def folder(self, prefix: str) -> Path:
        path = self.root / "images" / f"{prefix}-{next(_names)}"
        path.mkdir(parents=True)
        return path


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioSession]:
    root = tmp_path_factory.mktemp("labelstudio").resolve()
    env = {
        "WORKBENCH_HOME": str(root / "home"),
        "WORKBENCH_LABELSTUDIO_PORT": str(free_port()),
        "WORKBENCH_LABELSTUDIO_FILES_ROOT": str(root),
        "WORKBENCH_LABELSTUDIO_PUBLIC_PATH": labelstudio_public_path(JUPYTER_BASE_URL),
    }
    session = LabelStudioSession(root, env)
    server = LabelStudioServer(session.settings())
    server.start(progress=False)
    try:
        yield session
    finally:
        server.stop()


@pytest.fixture
def labeling(label_studio: LabelStudioSession, monkeypatch: pytest.MonkeyPatch) -> LabelingService:
    """The service on the session's Label Studio, with the environment the CLI would see."""
    for key, value in label_studio.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return LabelingService(label_studio.settings())


def digit_images(n: int = 1797) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    raw = load_digits()
    return (raw.images[:n] * (255 / 16)).astype(np.uint8), raw.target[:n]


def write_digits(
    folder: Path, per_class: int | None = None, flat: int = 0, classes: int = 10, offset: int = 0
) -> dict[str, int]:
    """sklearn digits as PNGs: ``per_class`` in ``folder/<digit>/``, then ``flat`` unlabeled
    ones directly in ``folder``. Returns each written file (relative) -> its true digit."""
    images, targets = digit_images()
    written: dict[str, int] = {}
    counts = dict.fromkeys(range(classes), 0)
    for i in range(offset, len(images)):
        digit = int(targets[i])
        labeled_done = per_class is None or all(c >= per_class for c in counts.values())
        if labeled_done and flat == 0:
            break
        if digit >= classes:
            continue
        if per_class is not None and counts[digit] < per_class:
            counts[digit] += 1
            rel = f"{digit}/d{i:04d}.png"
        elif flat > 0:
            flat -= 1
            rel = f"d{i:04d}.png"
        else:
            continue
        (folder / rel).parent.mkdir(exist_ok=True)
        Image.fromarray(images[i]).save(folder / rel)
        written[rel] = digit
    return written
