"""``workbench models``: the model zoo with each model's hyper-parameters and defaults."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from workbench.cli.console import console, echo_json


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The model zoo: names, frameworks and hyper-parameters with their defaults."""
    from workbench.training.models import describe_models

    described = describe_models()
    if as_json:
        echo_json(described)
        return
    table = Table(title="model zoo")
    for column in ("model", "framework", "hyper-parameters (default)", "description"):
        table.add_column(column)
    for m in described:
        props = m["hyperparameters"]["properties"]
        params = ", ".join(f"{k}={v.get('default')!r}" for k, v in props.items())
        table.add_row(m["name"], m["framework"], params, m["description"])
    console.print(table)
