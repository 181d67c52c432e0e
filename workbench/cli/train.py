"""``workbench train SPEC``: one training job from a training spec, followed to its end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.console import console, exit_on_errors
from workbench.cli.jobs import job_service, wait_for_job


def train(
    spec_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Training spec (YAML or JSON).")
    ],
    ranks: Annotated[int, typer.Option("--ranks", "-n", help="How many ranks.")] = 1,
    backend: Annotated[str, typer.Option(help="local, slurm or kubernetes.")] = "local",
    detach: Annotated[bool, typer.Option("--detach", help="Submit and return.")] = False,
) -> None:
    """Train the model a spec describes on N ranks, tracked in MLflow (exit 1 unless it succeeds).

    The spec is checked completely (model, hyper-parameters, data) before any rank starts.
    """
    from workbench.jobs.training_job import training_job
    from workbench.training.spec import load_spec

    with exit_on_errors("job spec"):
        path = spec_file.resolve()
        job_spec = training_job(
            load_spec(path),
            ranks=ranks,
            backend=backend,
            working_dir=Path.cwd(),
            spec_dir=path.parent,
        )
        service = job_service()
        job = service.submit(job_spec)
        console.print(f"submitted training job [bold]{job.id}[/] ({job.name}, {job.ranks} ranks)")
        if detach:
            return
        for line in service.logs(job.id, follow=True):
            console.print(str(line), markup=False, soft_wrap=True)
        job = wait_for_job(service, job, quiet=False)
    if job.state != "succeeded":
        raise typer.Exit(1)
