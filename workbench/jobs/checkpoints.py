"""The launcher side of the resume contract (see :mod:`workbench.training.checkpoints`)."""

from __future__ import annotations

import os

from workbench.training.checkpoints import ENV_RESUME_FROM, latest_checkpoint


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
