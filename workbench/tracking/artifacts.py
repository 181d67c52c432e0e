"""A run's artifact files for the UI: a flat listing, and one file's bytes with its type.

Paths are relative to the run's artifact root and may not leave it: ``..``, absolute paths
and NUL bytes are refused before MLflow is asked, and on a local store a path that resolves
(through a symlink) outside the root is refused too. Only types a browser shows safely
(images, JSON, plain text) are served inline; anything else is a download.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from workbench.errors import InvalidInput, NotFound

MAX_LISTED = 1000  # files listed per run (an MLflow model alone is a dozen)
MAX_SERVED_BYTES = 64 << 20
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
TEXT_TYPES = {
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".yaml": "text/plain; charset=utf-8",
    ".yml": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # MLmodel, requirements files without a suffix
}
DOWNLOAD_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class ArtifactFile:
    path: str
    content: bytes
    content_type: str

    @property
    def inline(self) -> bool:
        """Shown in the browser (an image or text); otherwise served as a download."""
        return self.content_type != DOWNLOAD_TYPE


def is_image(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in IMAGE_TYPES


def content_type(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    return IMAGE_TYPES.get(suffix) or TEXT_TYPES.get(suffix) or DOWNLOAD_TYPE


def artifact_path(raw: str) -> str:
    """``raw`` as a clean relative path inside the run's artifacts, or InvalidInput."""
    if "\x00" in raw or "\\" in raw:
        raise InvalidInput("path: may not contain NUL bytes or backslashes")
    path = PurePosixPath(raw)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts or not parts:
        raise InvalidInput(f"path: {raw!r} must name a file inside the run's artifacts")
    return "/".join(parts)


def list_artifact_files(client: MlflowClient, run_id: str) -> list[dict[str, object]]:
    """Every artifact file of the run (folders walked), ``{path, size, is_image}``."""
    files: list[dict[str, object]] = []
    folders: list[str | None] = [None]
    while folders and len(files) < MAX_LISTED:
        for info in client.list_artifacts(run_id, folders.pop(0)):
            if info.is_dir:
                folders.append(info.path)
            elif len(files) < MAX_LISTED:
                files.append({"path": info.path, "size": info.file_size,
                              "is_image": is_image(info.path)})  # fmt: skip
    return sorted(files, key=lambda f: str(f["path"]))


def read_artifact(client: MlflowClient, run_id: str, raw_path: str) -> ArtifactFile:
    """One artifact file of the run; NotFound when the run or the file does not exist."""
    path = artifact_path(raw_path)
    try:
        root = client.get_run(run_id).info.artifact_uri
    except MlflowException as exc:
        raise NotFound(f"run {run_id} does not exist") from exc
    local = _local_root(root)
    if local is not None:
        data = _read_local(local, path, run_id)
    else:
        data = _download(client, run_id, path)
    return ArtifactFile(path, data, content_type(path))


def _local_root(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "":
        return Path(uri)
    return None


def _read_local(root: Path, path: str, run_id: str) -> bytes:
    top = root.resolve()
    file = (top / path).resolve()
    if not file.is_relative_to(top):  # a symlink pointing out of the artifacts
        raise InvalidInput(f"path: {path!r} leads outside the run's artifacts")
    if not file.is_file():
        raise NotFound(f"run {run_id} has no artifact file {path!r}")
    _check_size(file, path)
    return file.read_bytes()


def _download(client: MlflowClient, run_id: str, path: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="wb-artifact-") as tmp:
        try:
            local = Path(client.download_artifacts(run_id, path, tmp))
        except (MlflowException, OSError) as exc:
            raise NotFound(f"run {run_id} has no artifact file {path!r}") from exc
        if not local.is_file():
            raise NotFound(f"run {run_id}: artifact {path!r} is a folder, not a file")
        _check_size(local, path)
        return local.read_bytes()


def _check_size(file: Path, path: str) -> None:
    size = file.stat().st_size
    if size > MAX_SERVED_BYTES:
        raise InvalidInput(
            f"path: {path!r} is {size >> 20} MiB; at most {MAX_SERVED_BYTES >> 20} MiB are "
            "served (download it with the MLflow client)"
        )
