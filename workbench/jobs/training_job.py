"""The one way to turn a training spec into a job.

``workbench train``, every trial of a model selection and ``POST /workbench/api/train`` call
:func:`training_job`, so a training job has the same name, experiment and paths however it
was asked for. The job's entry is the training spec as validated (defaults filled in), with
``data.path`` made absolute: ranks read the spec from the job's own folder, so a relative
path would otherwise point somewhere else than where it was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from workbench.errors import InvalidInput
from workbench.jobs.spec import JobSpec, parse_spec
from workbench.training.spec import TrainingSpec, data_path
from workbench.training.spec import parse_spec as parse_training_spec

MAX_JOB_NAME = 32


def job_name(raw: str) -> str:
    """A job name the jobs service accepts (a DNS label: lowercase letters, digits and '-',
    at most 32 characters), derived from a training spec's free-form name."""
    label = re.sub(r"[^a-z0-9-]+", "-", raw.lower())[:MAX_JOB_NAME].strip("-")
    return label or "job"


def training_job(
    spec: TrainingSpec | Mapping[str, Any],
    *,
    ranks: int = 1,
    backend: str = "local",
    working_dir: Path,
    spec_dir: Path | None = None,
    root: Path | None = None,
) -> JobSpec:
    """The job that trains ``spec`` on ``ranks`` ranks, started in ``working_dir``.

    A relative ``data.path`` is relative to ``spec_dir`` (the spec file's folder; default
    ``working_dir``). With ``root`` (the server's root), ``data.path`` may not leave it.
    Raises :class:`InvalidInput` naming the field at fault (``training spec: model: ...``,
    ``ranks: ...``). The full check (model, hyper-parameters, data) is the service's, at submit.
    """
    if not isinstance(spec, TrainingSpec):
        if not isinstance(spec, Mapping):
            raise InvalidInput(f"training spec: must be a mapping of fields (got {spec!r:.60})")
        spec = parse_training_spec(dict(spec))
    raw = spec.model_dump(mode="json")
    path = data_path(spec, (spec_dir or working_dir).resolve())
    if path is not None:
        if root is not None and not path.resolve().is_relative_to(root.resolve()):
            raise InvalidInput(f"training spec: data.path: {path} is outside {root.resolve()}")
        raw["data"]["path"] = str(path)
    return parse_spec(
        {
            "name": job_name(spec.name),
            "entry": {"kind": "training", "spec": raw},
            "ranks": ranks,
            "backend": backend,
            "working_dir": str(working_dir.resolve()),
            "mlflow_experiment": spec.experiment,
        }
    )
