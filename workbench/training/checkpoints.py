"""Checkpoints of a training run and the resume contract with whoever launches it.

Every rank of every attempt may get these environment variables (the jobs service sets
them; a plain ``mpiexec`` run may not):

- ``WORKBENCH_JOB_ID``: the job's id.
- ``WORKBENCH_ATTEMPT``: 1 for the first attempt, 2 for the first automatic retry, ...
- ``WORKBENCH_CHECKPOINT_DIR``: a directory that survives attempts and manual retries.
- ``WORKBENCH_RESUME_FROM``: path of the checkpoint to resume from; empty when there is none.

An entry that supports resuming writes each checkpoint under ``WORKBENCH_CHECKPOINT_DIR``
and, once it is complete, atomically replaces the file ``LATEST`` in that directory with the
checkpoint's name (relative to the directory). Launchers read ``LATEST`` before starting
the ranks and set ``WORKBENCH_RESUME_FROM``.
"""

from __future__ import annotations

import os
from pathlib import Path

LATEST = "LATEST"
ENV_JOB_ID = "WORKBENCH_JOB_ID"
ENV_ATTEMPT = "WORKBENCH_ATTEMPT"
ENV_CHECKPOINT_DIR = "WORKBENCH_CHECKPOINT_DIR"
ENV_RESUME_FROM = "WORKBENCH_RESUME_FROM"


def latest_checkpoint(checkpoint_dir: str | os.PathLike[str]) -> Path | None:
    """The checkpoint ``LATEST`` names, if it names one that exists inside the directory."""
    root = Path(checkpoint_dir)
    try:
        name = (root / LATEST).read_text().strip()
    except OSError:
        return None
    if not name:
        return None
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root.resolve()) or not candidate.exists():
        return None
    return candidate


def mark_latest(checkpoint_dir: str | os.PathLike[str], name: str) -> None:
    """Atomically record ``name`` as the newest complete checkpoint."""
    root = Path(checkpoint_dir)
    tmp = root / f"{LATEST}.tmp"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / LATEST)
