"""``workbench label ...``: thin commands over the labeling service.

Exit codes: 0 ok; 1 the request could not be served (Label Studio down, not found);
2 bad input. ``--json`` prints the service's answer as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from workbench.cli.console import JsonOption, console, echo_json, exit_on_errors
from workbench.errors import InvalidInput

if TYPE_CHECKING:
    from workbench.labeling.service import LabelingService

label_app = typer.Typer(
    name="label", help="Label data in the managed Label Studio.", no_args_is_help=True
)


def labeling_service() -> LabelingService:
    from workbench.labeling.service import LabelingService  # keeps `workbench --help` quick

    return LabelingService()


def _print_status(status: dict[str, Any]) -> None:
    state = "[green]running[/]" if status["running"] else f"[yellow]{status['detail']}[/]"
    kind = "managed" if status["managed"] else "external"
    console.print(f"Label Studio ({kind}): {state}  {status['url']}")
    console.print(f"API token file: {status['token_file']}", markup=False)
    if status.get("public_path"):
        console.print(f"In JupyterLab: {status['public_path']}/ (Jupyter server)", markup=False)


@label_app.command("start")
def start(as_json: JsonOption = False) -> None:
    """Start the managed Label Studio (or reuse the running one)."""
    with exit_on_errors():
        status = labeling_service().start(progress=not as_json).to_dict()
    echo_json(status) if as_json else _print_status(status)


@label_app.command("status")
def status(as_json: JsonOption = False) -> None:
    """Whether Label Studio runs, its URL and the token file's path (never the token)."""
    with exit_on_errors():
        status = labeling_service().status().to_dict()
    echo_json(status) if as_json else _print_status(status)


@label_app.command("stop")
def stop(as_json: JsonOption = False) -> None:
    """Stop the managed Label Studio."""
    with exit_on_errors():
        status = labeling_service().stop().to_dict()
    echo_json(status) if as_json else _print_status(status)


@label_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Project title (3-50 characters).")],
    images: Annotated[
        Path | None, typer.Option(help="Image folder: flat, or one folder per class.")
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Re-open a dataset version NAME@vN.")] = None,
    template: Annotated[str, typer.Option(help="classification or boxes.")] = "classification",
    classes: Annotated[str | None, typer.Option(help="Comma-separated class names.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a labeling project from an image folder or a dataset version."""
    with exit_on_errors():
        if template not in ("classification", "boxes"):
            raise InvalidInput(f"--template: classification or boxes, not {template!r}")
        names = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
        record, result = labeling_service().create_project(
            name, images, dataset=dataset, template=template,  # type: ignore[arg-type]
            classes=names, progress=not as_json,
        )  # fmt: skip
    if as_json:
        echo_json({"project": record.id, "title": record.title, **result.to_dict()})
        return
    console.print(
        f"project {record.id} [bold]{record.title}[/]: {result.new} tasks imported "
        f"({result.labeled} labeled), classes {', '.join(record.classes)}"
    )
    if result.skipped:
        console.print(f"[yellow]skipped {len(result.skipped)} files that are not images[/]")


@label_app.command("import")
def import_images(
    project: Annotated[str, typer.Argument(help="Project id or title.")],
    as_json: JsonOption = False,
) -> None:
    """Import images added to the project's folder since (known images are skipped)."""
    with exit_on_errors():
        result = labeling_service().import_images(project, progress=not as_json)
    if as_json:
        echo_json(result.to_dict())
        return
    console.print(f"{result.new} new tasks, {result.already} already in the project")


@label_app.command("list")
def list_projects(as_json: JsonOption = False) -> None:
    """Labeling projects with their progress."""
    with exit_on_errors():
        projects = labeling_service().list_projects()
    if as_json:
        echo_json(projects)
        return
    table = Table(title="labeling projects", box=box.SIMPLE_HEAD)
    for column in ("id", "title", "template", "labeled / total", "classes"):
        table.add_column(column)
    for p in projects:
        counts = ", ".join(f"{k}: {v}" for k, v in p["per_class"].items())
        table.add_row(str(p["id"]), p["title"], p["template"], f"{p['labeled']} / {p['total']}",
                      counts)  # fmt: skip
    console.print(table)


@label_app.command("export")
def export(
    project: Annotated[str, typer.Argument(help="Project id or title.")],
    dataset: Annotated[str, typer.Option(help="Dataset name; the export becomes NAME@vN.")],
    as_json: JsonOption = False,
) -> None:
    """Export the project's labels as the next immutable version of a dataset."""
    with exit_on_errors():
        described = labeling_service().export(project, dataset)
    if as_json:
        echo_json(described)
        return
    verb = "exported" if described["created"] else "unchanged since"
    console.print(f"{verb} [bold]{described['ref']}[/]: {described['items']} items")


@label_app.command("predict")
def predict(
    project: Annotated[str, typer.Argument(help="Project id or title.")],
    model: Annotated[
        str | None, typer.Option(help="Registered MLflow model NAME or NAME@VERSION.")
    ] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Train the quick auto-labeler.")] = False,
    min_per_class: Annotated[int, typer.Option(help="--auto: labels needed per class.")] = 5,
    strategy: Annotated[
        str, typer.Option(help="What the score ranks by: least-confidence, margin, entropy.")
    ] = "least-confidence",
    as_json: JsonOption = False,
) -> None:
    """Pre-label the unlabeled tasks (they stay predictions until someone accepts them)."""
    with exit_on_errors():
        out = labeling_service().predict(
            project,
            model=model,
            auto=auto,
            min_per_class=min_per_class,
            strategy=strategy,
            progress=not as_json,
        )
    if as_json:
        echo_json(out)
        return
    line = f"{out['predicted']} predictions from [bold]{out['model_version']}[/]"
    if "held_out_accuracy" in out:
        line += (f", held-out accuracy {out['held_out_accuracy']:.3f} "
                 f"({out['cv_folds']}-fold CV on {out['trained_on']} labels)")  # fmt: skip
    console.print(line)


@label_app.command("accept")
def accept(
    project: Annotated[str, typer.Argument(help="Project id or title.")],
    min_confidence: Annotated[
        float, typer.Option(help="Accept predictions at least this sure (0-1).")
    ] = 0.0,
    as_json: JsonOption = False,
) -> None:
    """Accept the current predictions on unlabeled tasks as labels (provenance kept)."""
    with exit_on_errors():
        out = labeling_service().accept(project, min_confidence)
    if as_json:
        echo_json(out)
        return
    console.print(f"accepted {out['accepted']} predictions of {out['model_version']} "
                  f"({out['below_threshold']} below {min_confidence})")  # fmt: skip


@label_app.command("next")
def next_batch(
    project: Annotated[str, typer.Argument(help="Project id or title.")],
    n: Annotated[int, typer.Option("-n", help="How many tasks.")] = 20,
    strategy: Annotated[
        str, typer.Option(help="least-confidence, margin, entropy or k-center.")
    ] = "least-confidence",
    as_json: JsonOption = False,
) -> None:
    """The tasks to label next: the most uncertain (or, k-center, the most different)."""
    with exit_on_errors():
        out = labeling_service().next_batch(project, n, strategy)
    if as_json:
        echo_json(out)
        return
    table = Table(title=f"next {len(out['tasks'])} by {strategy}", box=box.SIMPLE_HEAD)
    for column in ("task", "image", "uncertainty", "open"):
        table.add_column(column)
    for t in out["tasks"]:
        table.add_row(str(t["task"]), t["path"], f"{t['uncertainty']:.3f}", t["url"])
    console.print(table)


@label_app.command("issues")
def issues(
    project: Annotated[str, typer.Argument(help="Project id or title.")],
    top: Annotated[int, typer.Option(help="How many suspects at most.")] = 50,
    view: Annotated[bool, typer.Option(help="Add a Label Studio tab with them.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Labeled tasks whose label is probably wrong (cleanlab), most suspect first."""
    with exit_on_errors():
        out = labeling_service().label_errors(project, top, view)
    if as_json:
        echo_json(out)
        return
    table = Table(title=f"{len(out['suspects'])} likely label errors", box=box.SIMPLE_HEAD)
    for column in ("task", "image", "given", "suggested", "confidence in given"):
        table.add_column(column)
    for s in out["suspects"]:
        table.add_row(str(s["task"]), s["path"], s["given"], s["suggested"],
                      f"{s['self_confidence']:.3f}")  # fmt: skip
    console.print(table)
    console.print(f"review them in Label Studio: {out['url']}", markup=False)
