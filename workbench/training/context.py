"""What a trainer is told about its run, and the observer it reports to (rank 0 only).

Trainers stay free of MLflow: ``workbench.training.run`` (the process's entry point)
hands them an :class:`Observer` backed by :mod:`workbench.tracking`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.training.checkpoints import ENV_CHECKPOINT_DIR, ENV_RESUME_FROM
from workbench.training.data.arrays import ArrayDataset
from workbench.training.evaluation import Evaluation

RUN_ID_FILE = "mlflow-run-id"


@dataclass(frozen=True)
class RunContext:
    rank: int
    size: int
    base: Path  # relative data paths resolve against this
    checkpoint_dir: Path | None
    resume_from: Path | None

    @classmethod
    def from_env(cls, rank: int, size: int, base: Path, checkpoint_dir: str | None) -> RunContext:
        """Checkpoint dir: the spec's, else ``WORKBENCH_CHECKPOINT_DIR``; resume from
        ``WORKBENCH_RESUME_FROM`` or, without a launcher, the dir's ``LATEST``."""
        from workbench.training.checkpoints import latest_checkpoint

        directory = checkpoint_dir or os.environ.get(ENV_CHECKPOINT_DIR) or None
        path = Path(directory).expanduser().resolve() if directory else None
        resume = os.environ.get(ENV_RESUME_FROM) or None
        if resume is None and path is not None:
            found = latest_checkpoint(path)
            resume = str(found) if found else None
        return cls(rank, size, base, path, Path(resume) if resume else None)

    def previous_run_id(self) -> str | None:
        """The MLflow run an interrupted attempt logged to (so a resume continues it)."""
        if self.resume_from is None or self.checkpoint_dir is None:
            return None
        try:
            return (self.checkpoint_dir / RUN_ID_FILE).read_text().strip() or None
        except OSError:
            return None

    def remember_run_id(self, run_id: str | None) -> None:
        if run_id and self.checkpoint_dir is not None and self.rank == 0:
            self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
            (self.checkpoint_dir / RUN_ID_FILE).write_text(run_id + "\n")


def checkpoint_name(epoch: int, suffix: str) -> str:
    return f"epoch-{epoch:05d}.{suffix}"


class Observer(Protocol):
    """Where rank 0 reports (an MLflow run in practice)."""

    run_id: str | None

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def log_dataset(self, source: str, train: ArrayDataset, test: ArrayDataset) -> None: ...

    def log_evaluation(
        self, result: Evaluation, images: np.ndarray, labels: np.ndarray
    ) -> None: ...

    def log_model(self, model: Any, framework: str, example: np.ndarray) -> None: ...
