"""``workbench lab``: JupyterLab with the Workbench panels and the embedded stores."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from workbench.cli.console import console
from workbench.config import get_settings


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


def lab(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8888).")] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
) -> None:
    """Start JupyterLab with the Workbench panels; extra arguments go to JupyterLab."""
    settings = get_settings()
    settings.ensure_home()
    os.environ.setdefault("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    console.print(f"workbench home: {settings.home}  (MLflow: {settings.mlflow_tracking_uri})")
    argv = lab_argv(port, no_browser, list(ctx.args))
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with the Jupyter server
