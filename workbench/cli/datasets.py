"""``workbench datasets list|show|diff``: dataset versions (NAME@vN) exported from labeling."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from workbench.cli.console import JsonOption, console, echo_json, exit_on_errors
from workbench.cli.label import labeling_service

datasets_app = typer.Typer(
    name="datasets", help="Dataset versions (NAME@vN) exported from labeling.", no_args_is_help=True
)


@datasets_app.command("list")
def list_datasets(as_json: JsonOption = False) -> None:
    """Datasets and their versions."""
    with exit_on_errors():
        found = labeling_service().datasets()
    if as_json:
        echo_json(found)
        return
    table = Table(title="datasets", box=box.SIMPLE_HEAD)
    for column in ("name", "versions", "latest", "items", "created"):
        table.add_column(column)
    for d in found:
        latest = d["latest"]
        table.add_row(d["name"], ", ".join(f"v{v}" for v in d["versions"]), latest["ref"],
                      str(latest["items"]), latest["created_at"] or "-")  # fmt: skip
    console.print(table)


@datasets_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="NAME@vN (NAME alone: the latest).")],
    as_json: JsonOption = False,
) -> None:
    """One dataset version: size, classes, provenance, parent."""
    with exit_on_errors():
        d = labeling_service().dataset(ref)
    if as_json:
        echo_json(d)
        return
    console.print(f"[bold]{d['ref']}[/] ({d['kind']}): {d['items']} items, parent {d['parent']}")
    console.print("classes: " + ", ".join(f"{k} {v}" for k, v in d["classes"].items()))
    console.print("provenance: " + ", ".join(f"{k} {v}" for k, v in d["provenance"].items()))
    console.print(f"manifest: {d['manifest']}", markup=False)


@datasets_app.command("diff")
def diff(
    base: Annotated[str, typer.Argument(help="NAME@vN")],
    other: Annotated[str, typer.Argument(help="NAME@vM")],
    as_json: JsonOption = False,
) -> None:
    """What changed between two versions: items added, removed, relabelled."""
    with exit_on_errors():
        d = labeling_service().diff(base, other)
    if as_json:
        echo_json(d)
        return
    s = d["summary"]
    console.print(f"{d['base']} -> {d['other']}: +{s['added']} -{s['removed']} "
                  f"~{s['relabelled']} relabelled")  # fmt: skip
    for change in d["relabelled"][:50]:
        console.print(f"  ~ {change['item']}: {change['from']} -> {change['to']}", markup=False)
