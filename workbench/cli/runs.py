"""``workbench runs list|show|compare``: tracked runs from the MLflow store."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from workbench.cli.console import JsonOption, console, echo_json, exit_on_errors
from workbench.errors import NotFound

runs_app = typer.Typer(name="runs", help="Browse runs tracked in MLflow.", no_args_is_help=True)


@runs_app.command("list")
def list_runs(
    experiment: Annotated[str, typer.Option("--experiment", "-e")] = "Default",
    filter_string: Annotated[str, typer.Option("--filter", help="MLflow search syntax.")] = "",
    order_by: Annotated[str | None, typer.Option(help="e.g. 'metrics.test_accuracy DESC'")] = None,
    limit: Annotated[int, typer.Option(help="Runs per page.")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Runs of an experiment, newest first."""
    from workbench.tracking.client import tracking_client
    from workbench.tracking.queries import experiment_runs

    with exit_on_errors():
        page = experiment_runs(
            tracking_client(),
            experiment,
            filter_string=filter_string,
            order_by=[order_by] if order_by else None,
            page_size=limit,
        )
    if as_json:
        echo_json(page.runs)
        return
    table = Table(title=f"{experiment}: {len(page.runs)} runs", box=box.SIMPLE_HEAD)
    for column in ("run_id", "name", "status", "started", "accuracy", "loss"):
        table.add_column(column)
    for r in page.runs:
        metrics = r["metrics"]
        accuracy = metrics.get("test_accuracy", metrics.get("accuracy"))
        loss = metrics.get("train_loss", metrics.get("loss"))
        table.add_row(
            r["run_id"][:12],
            r["run_name"] or "",
            r["status"],
            datetime.fromtimestamp(r["start_time"] / 1000).strftime("%m-%d %H:%M"),
            "-" if accuracy is None else f"{accuracy:.4f}",
            "-" if loss is None else f"{loss:.4f}",
        )
    console.print(table)


@runs_app.command()
def show(run_id: str, as_json: JsonOption = False) -> None:
    """One run: params, latest metrics, tags."""
    from mlflow.exceptions import MlflowException

    from workbench.tracking.client import tracking_client
    from workbench.tracking.queries import run_summary

    with exit_on_errors():
        try:
            summary = run_summary(tracking_client().get_run(run_id))
        except MlflowException:
            raise NotFound(f"run {run_id} does not exist") from None
    if as_json:
        echo_json(summary)
        return
    console.print(f"[bold]{summary['run_name']}[/] {summary['run_id']} {summary['status']}")
    for title in ("params", "metrics", "tags"):
        table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False)
        for key, value in sorted(summary[title].items()):
            table.add_row(key, str(value))
        console.print(table)
    for used in summary["datasets"]:
        sizes = ", ".join(f"{k} {v}" for k, v in used["profile"].items())
        console.print(f"dataset {used['name']} @ {used['digest']} ({used['context']}; {sizes})")


@runs_app.command()
def compare(run_ids: list[str], as_json: JsonOption = False) -> None:
    """Params and metrics of 2..50 runs side by side (differences first)."""
    from workbench.tracking.client import tracking_client
    from workbench.tracking.queries import compare_runs

    with exit_on_errors():
        table_data = compare_runs(tracking_client(), run_ids)
    if as_json:
        echo_json(table_data)
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("")
    for name, run_id in zip(table_data["run_names"], run_ids, strict=True):
        table.add_column(f"{name or ''}\n{run_id[:8]}")
    for kind in ("params", "metrics"):
        for key, values in table_data[kind].items():
            table.add_row(f"{kind[:-1]}.{key}", *["-" if v is None else str(v) for v in values])
    console.print(table)
