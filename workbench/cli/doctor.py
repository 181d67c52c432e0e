"""``workbench doctor``: which parts are available (exit 1 if a required one is missing)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

import workbench
from workbench.cli.console import console


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
