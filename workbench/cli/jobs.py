"""``workbench jobs submit|list|show|logs|cancel|retry``: thin commands over the service.

Exit codes: 0 ok; 1 the job failed (with ``--wait``) or the request could not be served
(unknown job, finished job, scheduler down); 2 bad input (malformed spec, bad option).
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.table import Table

from workbench.cli.console import JsonOption, console, exit_on_errors
from workbench.validation import read_mapping_file

if TYPE_CHECKING:
    from workbench.jobs.service import JobService
    from workbench.jobs.store import JobRecord

jobs_app = typer.Typer(
    name="jobs",
    help="Submit, watch and cancel distributed jobs (local MPI, Slurm, Kubernetes).",
    no_args_is_help=True,
)
STATE_STYLE = {
    "queued": "dim",
    "starting": "cyan",
    "running": "blue",
    "cancelling": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "yellow",
    "lost": "magenta",
}


def job_service() -> JobService:
    from workbench.jobs.service import JobService  # keeps `workbench --help` quick

    return JobService()


def styled(state: str) -> str:
    return f"[{STATE_STYLE.get(state, 'white')}]{state}[/]"


def _when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime(fmt)


def _duration(start: float | None, end: float | None) -> str:
    if start is None:
        return "-"
    seconds = int((end or time.time()) - start)
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def load_spec_file(path: Path) -> dict[str, Any]:
    """A YAML or JSON spec; ``working_dir`` defaults to the file's folder (not on Kubernetes)."""
    data = read_mapping_file(path, "job spec")
    if data.get("backend") != "kubernetes":
        data.setdefault("working_dir", str(path.resolve().parent))
    return data


@jobs_app.command()
def submit(
    spec_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="Job spec (YAML or JSON).")
    ],
    ranks: Annotated[int | None, typer.Option("--ranks", "-n", help="Override ranks.")] = None,
    backend: Annotated[str | None, typer.Option(help="Override the backend.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the job ends.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream its logs.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Submit a job; with --wait/--follow, exit 1 unless it succeeds."""
    with exit_on_errors("job spec"):
        data = load_spec_file(spec_file)
        data.update({k: v for k, v in (("ranks", ranks), ("backend", backend)) if v is not None})
        service = job_service()
        job = service.submit(data)
        if not as_json:
            console.print(
                f"submitted job [bold]{job.id}[/] ({job.name}, {job.ranks} ranks, "
                f"{job.backend}): {styled(job.state)}"
            )
        if follow:
            for line in service.logs(job.id, follow=True):
                console.print(str(line), markup=False, soft_wrap=True)
        if wait or follow:
            job = wait_for_job(service, job, quiet=as_json)
        if as_json:
            typer.echo(json.dumps(job.to_dict(), indent=2))
        if (wait or follow) and job.state != "succeeded":
            raise typer.Exit(1)


def wait_for_job(service: JobService, job: JobRecord, *, quiet: bool) -> JobRecord:
    if quiet:
        return service.wait(job.id)
    with console.status(f"job {job.id}: {job.state}") as status:
        while not job.state.terminal:
            time.sleep(0.2)
            job = service.refresh(job.id)  # no server may be running to refresh it
            elapsed = _duration(job.started_at, None)
            status.update(f"job {job.id}: {job.state} (attempt {job.attempt}, {elapsed})")
    reason = f": {job.reason}" if job.reason else ""
    console.print(f"job {job.id} {styled(job.state)}{reason}")
    return job


@jobs_app.command("list")
def list_jobs(
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    backend: Annotated[str | None, typer.Option(help="Only jobs on this backend.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    with exit_on_errors("job spec"):
        jobs = job_service().list(state=state, backend=backend, limit=limit)
    if as_json:
        typer.echo(json.dumps([j.to_dict() for j in jobs], indent=2))
        return
    title = f"{len(jobs)} jobs" if jobs else "no jobs"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "name", "backend", "state", "ranks", "created", "took", "reason"):
        table.add_column(column, no_wrap=column != "reason", overflow="fold")
    for j in jobs:
        table.add_row(
            j.id,
            j.name,
            j.backend,
            styled(j.state),
            str(j.ranks),
            _when(j.created_at, "%m-%d %H:%M"),
            _duration(j.started_at, j.finished_at),
            j.reason or "",
        )
    console.print(table)


@jobs_app.command()
def show(job_id: str, as_json: JsonOption = False) -> None:
    """Everything about one job: state, reason, per-rank exit codes, where its logs are."""
    with exit_on_errors("job spec"):
        job = job_service().get(job_id)
    if as_json:
        typer.echo(json.dumps(job.to_dict(), indent=2))
        return
    table = Table(show_header=False, title=f"job {job.id}")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    codes = ", ".join(f"rank {r}: {c}" for r, c in sorted(job.exit_codes.items())) or "-"
    rows = [
        ("name", job.name),
        ("state", styled(job.state)),
        ("reason", job.reason or "-"),
        ("backend", job.backend),
        ("ranks", str(job.ranks)),
        ("attempt", str(job.attempt)),
        ("entry", json.dumps(job.spec.get("entry"))),
        ("created", _when(job.created_at)),
        ("started", _when(job.started_at)),
        ("finished", _when(job.finished_at)),
        ("took", _duration(job.started_at, job.finished_at)),
        ("exit codes", codes),
        ("logs", str(job.log_dir)),
        ("checkpoints", job.checkpoint_dir or "-"),
        ("retry of", job.retry_of or "-"),
        ("backend ref", json.dumps(job.backend_ref)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@jobs_app.command()
def logs(
    job_id: str,
    rank: Annotated[int | None, typer.Option(help="Only this rank.")] = None,
    tail: Annotated[int | None, typer.Option(help="Last N lines of each file.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Wait for more.")] = False,
) -> None:
    """Print a job's logs; each line is tagged with its rank and stream (0:out, 1:err)."""
    with exit_on_errors("job spec"):
        for line in job_service().logs(job_id, rank=rank, tail=tail, follow=follow):
            console.print(str(line), markup=False, soft_wrap=True)


@jobs_app.command()
def cancel(job_id: str) -> None:
    """Cancel a job and wait until all of its processes have stopped."""
    with exit_on_errors("job spec"):
        service = job_service()
        wait_for_job(service, service.cancel(job_id), quiet=False)


@jobs_app.command()
def retry(job_id: str) -> None:
    """Run a finished job again as a new job that resumes from its checkpoints."""
    with exit_on_errors("job spec"):
        job = job_service().retry(job_id)
    console.print(f"submitted job [bold]{job.id}[/] (retry of {job_id}): {styled(job.state)}")
