"""What every backend launches: the entry's argv and the environment each rank gets."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.jobs.secrets import write_private
from workbench.jobs.spec import JobSpec
from workbench.training.checkpoints import ENV_ATTEMPT, ENV_CHECKPOINT_DIR, ENV_JOB_ID

TRAINING_SPEC_FILE = "training-spec.json"


def entry_argv(spec: JobSpec, python: str, job_dir: Path | None = None) -> list[str]:
    """``python ...`` for the spec's entry (unbuffered, so logs can be followed live)."""
    entry = spec.entry
    if entry.kind == "script":
        return [python, "-u", entry.path, *entry.args]
    if entry.kind == "module":
        return [python, "-u", "-m", entry.module, *entry.args]
    if job_dir is None:
        raise ValueError("a training entry needs the job directory for its spec file")
    return [python, "-u", "-m", "workbench.training.run", str(job_dir / TRAINING_SPEC_FILE)]


def write_training_spec(spec: JobSpec, job_dir: Path) -> None:
    if spec.entry.kind == "training":
        write_private(job_dir / TRAINING_SPEC_FILE, json.dumps(spec.entry.spec, indent=2))


def rank_env(spec: JobSpec, job_id: str, attempt: int, checkpoint_dir: str) -> dict[str, str]:
    """Variables every rank gets on top of the spec's ``env`` (see jobs.checkpoints)."""
    env = dict(spec.env)
    env[ENV_JOB_ID] = job_id
    env[ENV_ATTEMPT] = str(attempt)
    env[ENV_CHECKPOINT_DIR] = checkpoint_dir
    env["PYTHONUNBUFFERED"] = "1"
    if spec.mlflow_experiment:
        env["MLFLOW_EXPERIMENT_NAME"] = spec.mlflow_experiment
    return env
