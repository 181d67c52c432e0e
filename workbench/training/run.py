"""``python -m workbench.training.run SPEC`` : the entry point every rank of a training runs.

Launched by the jobs service (``workbench train``) or by hand under ``mpiexec -n N``. The
spec is checked before anything starts; rank 0 logs params, per-epoch metrics, the
evaluation and the model to MLflow and checkpoints every epoch; a resubmitted job
resumes from the latest checkpoint and continues the same MLflow run.

This module is the process's composition root: it is the one place that hands trainers the
MLflow observer (:mod:`workbench.training.observer`); trainers only see the ``Observer`` protocol.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.training.checkpoints import ENV_JOB_ID
from workbench.training.context import RunContext
from workbench.training.models import get_model_entry
from workbench.training.spec import TrainingSpec, load_spec


def run(spec: TrainingSpec, base: Path) -> dict[str, Any]:
    import workbench.engine as wb
    from workbench.training.observer import MlflowObserver

    wb.init()
    ctx = RunContext.from_env(wb.rank(), wb.size(), base, spec.checkpoint_dir)
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or spec.experiment
    framework = get_model_entry(spec.model.name).framework
    observer = MlflowObserver(
        experiment,
        spec.name,
        rank=ctx.rank,
        run_id=ctx.previous_run_id(),
        parent_run_id=spec.parent_run_id,
        register_as=spec.register_model,
        tags={
            "workbench.framework": framework,
            "workbench.world_size": str(ctx.size),
            **({"workbench.job_id": job} if (job := os.environ.get(ENV_JOB_ID)) else {}),
        },
    )
    try:
        with observer:
            ctx.remember_run_id(observer.run_id)
            if ctx.resume_from is None:
                observer.log_params({**spec.model_dump(mode="json"), "world_size": ctx.size})
            if framework == "torch":
                from workbench.training.torch_trainer import train_torch

                return train_torch(spec, ctx, observer)
            from workbench.training.keras_trainer import train_keras

            return train_keras(spec, ctx, observer)
    finally:
        wb.shutdown()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.training.run SPEC.(yaml|json)", file=sys.stderr)
        return 2
    path = Path(args[0]).resolve()
    try:
        spec = load_spec(path)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run(spec, path.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
