"""``workbench select SPEC``: an Optuna study over models; each trial a tracked training job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.console import console, exit_on_errors


def select(
    spec_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Selection spec (YAML or JSON).")
    ],
    trials: Annotated[int | None, typer.Option("--trials", help="Override trials.")] = None,
) -> None:
    """Search models and hyper-parameters (Optuna); each trial is a tracked training job."""
    from workbench.selection.jobs import select_with_jobs
    from workbench.selection.spec import load_selection_spec

    with exit_on_errors("selection spec"):
        spec = load_selection_spec(spec_file, trials)
        with console.status(f"study {spec.name}: starting") as status:
            result, best_run = select_with_jobs(
                spec,
                spec_file.resolve().parent,
                progress=lambda n, total: status.update(f"study {spec.name}: {n}/{total} trials"),
            )
    console.print(
        f"best {spec.metric} {result.best_value:.4f} (trial {result.best_trial}, run {best_run})"
        f"; {result.completed} completed, {result.pruned} pruned, {result.failed} failed"
    )
    console.print(f"best params: {result.best_params}", markup=False)
