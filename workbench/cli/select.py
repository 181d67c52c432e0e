"""``workbench select SPEC``: an Optuna study over models; each trial a tracked training job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.console import console, exit_on_errors
from workbench.errors import InvalidInput


def select(
    spec_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Selection spec (YAML or JSON).")
    ],
    trials: Annotated[int | None, typer.Option("--trials", help="Override trials.")] = None,
) -> None:
    """Search models and hyper-parameters (Optuna); each trial is a tracked training job."""
    import pydantic
    import yaml

    from workbench.jobs.selection import select_with_jobs
    from workbench.training.selection import SelectionSpec

    with exit_on_errors("job spec"):
        try:
            raw = yaml.safe_load(spec_file.read_text())
            if trials is not None:
                raw["trials"] = trials
            spec = SelectionSpec.model_validate(raw)
        except (yaml.YAMLError, TypeError) as exc:
            raise InvalidInput(f"selection spec {spec_file}: not a YAML mapping ({exc})") from exc
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise InvalidInput(f"selection spec {spec_file}: {where}: {first['msg']}") from exc
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
