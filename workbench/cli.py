"""The ``workbench`` command: thin wrappers over the service functions."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

import workbench
from workbench.config import get_settings
from workbench.jobs.cli import jobs_app, select, train
from workbench.labeling.cli import datasets_app, label_app
from workbench.tracking.cli import runs_app

app = typer.Typer(
    name="workbench",
    help="Open data-science workbench: labeling, tracking, one-click distributed training.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
app.add_typer(jobs_app, name="jobs")
app.add_typer(runs_app, name="runs")
app.add_typer(label_app, name="label")
app.add_typer(datasets_app, name="datasets")
app.command()(train)
app.command()(select)


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


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Report which parts are available; exit 1 if a required part is missing."""
    from workbench.doctor import run_checks

    checks = run_checks()
    if as_json:
        typer.echo(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        table = Table(title=f"workbench {workbench.__version__} doctor")
        for column in ("", "part", "required", "detail"):
            table.add_column(column)
        for c in checks:
            mark = "[green]ok[/]" if c.ok else ("[red]MISSING[/]" if c.required else "[yellow]-[/]")
            table.add_row(mark, c.name, "yes" if c.required else "no", c.detail)
        console.print(table)
    missing = [c.name for c in checks if c.required and not c.ok]
    if missing:
        if not as_json:
            console.print(f"[red]missing required parts: {', '.join(missing)}[/]")
        raise typer.Exit(1)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The model zoo: names, frameworks and hyper-parameters with their defaults."""
    from workbench.training.models import describe_models

    described = describe_models()
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    table = Table(title="model zoo")
    for column in ("model", "framework", "hyper-parameters (default)", "description"):
        table.add_column(column)
    for m in described:
        props = m["hyperparameters"]["properties"]
        params = ", ".join(f"{k}={v.get('default')!r}" for k, v in props.items())
        table.add_row(m["name"], m["framework"], params, m["description"])
    console.print(table)


def lab_argv(port: int | None, no_browser: bool, extra: list[str]) -> list[str]:
    """argv that starts JupyterLab (installing workbench enables its server extension)."""
    argv = [sys.executable, "-m", "jupyterlab"]
    if os.geteuid() == 0:  # containers and CI machines run as root; Jupyter refuses without this
        argv.append("--allow-root")
    if port is not None:
        argv.append(f"--port={port}")
    if no_browser:
        argv.append("--no-browser")
    return argv + extra


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lab(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8888).")] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
) -> None:
    """Start JupyterLab with the Workbench sidebar; extra arguments go to JupyterLab."""
    settings = get_settings()
    settings.ensure_home()
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    console.print(f"workbench home: {settings.home}  (MLflow: {settings.mlflow_tracking_uri})")
    argv = lab_argv(port, no_browser, list(ctx.args))
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with the Jupyter server


if __name__ == "__main__":
    app()
