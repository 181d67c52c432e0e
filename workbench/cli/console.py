"""What every ``workbench`` command shares: the consoles, ``--json``, and errors -> exit codes.

Exit codes: 0 ok; 1 the request could not be served (not found, a service down, a
conflict); 2 bad input. Messages print as they are (no rich markup from user text).
:func:`exit_on_errors` is the one place that maps workbench errors to exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console

from workbench.errors import InvalidInput, WorkbenchError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def echo_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


@contextmanager
def exit_on_errors(what: str = "input") -> Iterator[None]:
    """Workbench errors become a red message and an exit code (2: bad input, 1: other)."""
    try:
        yield
    except InvalidInput as exc:
        problems = getattr(exc, "problems", None)
        if problems:
            err_console.print(f"[red]error:[/] invalid {what}")
            for problem in problems:
                err_console.print(f"  {problem}", markup=False)
        else:
            err_console.print("[red]error:[/] ", end="")
            err_console.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    except WorkbenchError as exc:
        err_console.print("[red]error:[/] ", end="")
        err_console.print(str(exc), markup=False)
        raise typer.Exit(1) from None
