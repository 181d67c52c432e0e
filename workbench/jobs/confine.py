"""Confining a submitted spec to a root directory (what the REST API does for every job).

The CLI runs as the user and takes the user's paths as they are; a request to the server
may name only what lies under the Jupyter root. :func:`confine_to` checks and rewrites the
raw spec before it is validated, so every path a rank later opens is absolute and inside:

- ``working_dir``: relative to the root, or absolute inside it; missing means the root;
- a training entry's ``data.path``: relative to ``working_dir`` (or absolute), inside the root;
- a training entry's ``checkpoint_dir``: relative, inside ``working_dir`` (as the job's own
  ``checkpoint_dir``, which :class:`~workbench.jobs.spec.JobSpec` already holds to that).

On Kubernetes ``working_dir`` is a path inside the container, not on this machine, so it is
left alone there (training entries do not run on Kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from workbench.errors import InvalidInput
from workbench.paths import path_inside


def confine_to(data: Any, root: Path) -> Any:
    """``data`` with its paths resolved inside ``root``; InvalidInput names a path that is not.

    Anything that is not a mapping is returned unchanged for the spec parser to refuse.
    """
    if not isinstance(data, Mapping) or data.get("backend") == "kubernetes":
        return data
    spec = dict(data)
    raw = spec.get("working_dir")
    if raw is not None and not isinstance(raw, str):
        raise InvalidInput("working_dir: must be a path (a string) under the Jupyter root")
    working_dir = root.resolve() if raw is None else path_inside(root, raw, "working_dir")
    spec["working_dir"] = str(working_dir)
    entry = spec.get("entry")
    if isinstance(entry, Mapping) and entry.get("kind") == "training":
        training = entry.get("spec")
        if isinstance(training, Mapping):
            training = _confine_training(dict(training), root, working_dir)
            spec["entry"] = {**entry, "spec": training}
    return spec


def _confine_training(training: dict[str, Any], root: Path, working_dir: Path) -> dict[str, Any]:
    data = training.get("data")
    if isinstance(data, Mapping) and isinstance(data.get("path"), str):
        field = "entry.spec.data.path"
        path = path_inside(root, data["path"], field, base=working_dir)
        training["data"] = {**data, "path": str(path)}
    checkpoint_dir = training.get("checkpoint_dir")
    if isinstance(checkpoint_dir, str):
        field = "entry.spec.checkpoint_dir"
        if PurePosixPath(checkpoint_dir).is_absolute():
            raise InvalidInput(f"{field}: must be relative to working_dir (got {checkpoint_dir!r})")
        path = path_inside(working_dir, checkpoint_dir, field, root_name="working_dir")
        training["checkpoint_dir"] = str(path)
    return training
