"""The ``workbench`` command: one typer app per area, each a thin wrapper over a service.

``workbench lab|doctor|models|train|select|jobs|runs|label|datasets|simulate``; every command maps
errors to exit codes through :func:`workbench.cli.console.exit_on_errors`.
"""

from __future__ import annotations

from typing import Annotated

import typer

import workbench
from workbench.cli.datasets import datasets_app
from workbench.cli.doctor import doctor
from workbench.cli.jobs import jobs_app
from workbench.cli.lab import lab
from workbench.cli.label import label_app
from workbench.cli.models import models
from workbench.cli.runs import runs_app
from workbench.cli.select import select
from workbench.cli.simulate import simulate_app
from workbench.cli.train import train

app = typer.Typer(
    name="workbench",
    help="Open data-science workbench: labeling, tracking, one-click distributed training.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(jobs_app, name="jobs")
app.add_typer(runs_app, name="runs")
app.add_typer(label_app, name="label")
app.add_typer(datasets_app, name="datasets")
app.add_typer(simulate_app, name="simulate")
app.command()(train)
app.command()(select)
app.command()(doctor)
app.command()(models)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(lab)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"workbench {workbench.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version_callback, is_eager=True, help="Print version."),
    ] = False,
) -> None:
    """Workbench command line."""
