"""The resume contract between the jobs service and the code a job runs.

Every rank of every attempt gets these environment variables:

- ``WORKBENCH_JOB_ID``: the job's id.
- ``WORKBENCH_ATTEMPT``: 1 for the first attempt, 2 for the first automatic retry, ...
- ``WORKBENCH_CHECKPOINT_DIR``: a directory that survives attempts and manual retries
  (``workbench jobs retry`` gives the new job the old job's directory).
- ``WORKBENCH_RESUME_FROM``: path of the checkpoint to resume from; empty when there is none.

An entry that supports resuming writes each checkpoint under ``WORKBENCH_CHECKPOINT_DIR``
and, once it is complete, atomically replaces the file ``LATEST`` in that directory with the
checkpoint's name (relative to the directory; write ``LATEST.tmp`` then rename). The
launcher (the local rank wrapper, the sbatch script, the MPIJob launcher) reads ``LATEST``
before starting the ranks and sets ``WORKBENCH_RESUME_FROM``. Entries that ignore these
variables simply start over on a retry.
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
    """Atomically record ``name`` as the newest complete checkpoint (for entries to call)."""
    root = Path(checkpoint_dir)
    tmp = root / f"{LATEST}.tmp"
    tmp.write_text(name + "\n")
    os.replace(tmp, root / LATEST)


def resume_env(checkpoint_dir: str | os.PathLike[str]) -> dict[str, str]:
    """``WORKBENCH_RESUME_FROM`` for a launch now (empty string when nothing to resume)."""
    found = latest_checkpoint(checkpoint_dir)
    return {ENV_RESUME_FROM: "" if found is None else str(found)}


# The same contract for launchers written in shell (sbatch script, MPIJob launcher). It reads
# only environment variables, so no user-supplied text is ever interpolated into it.
SHELL_RESUME = (
    'if [ -s "$WORKBENCH_CHECKPOINT_DIR/LATEST" ]; then '
    'WORKBENCH_RESUME_FROM="$WORKBENCH_CHECKPOINT_DIR/$(head -n 1 '
    '"$WORKBENCH_CHECKPOINT_DIR/LATEST")"; else WORKBENCH_RESUME_FROM=; fi; '
    "export WORKBENCH_RESUME_FROM"
)
