"""The ``%wb`` commands: one argparse sub-parser each, whose ``run`` calls one service."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn


class ArgumentError(Exception):
    """Bad arguments: the message holds the command's usage and what was wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ArgumentError(f"{self.format_usage()}{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise ArgumentError(message or self.format_help())  # --help: the help, as the message


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _frame(rows: list[dict[str, Any]], columns: list[str] | None) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


# -- commands ------------------------------------------------------------------------------


def _distributed(args: argparse.Namespace, cell: str | None, namespace: dict[str, Any]) -> None:
    from workbench.magics.distributed import DistributedCell, run_cell

    timeline = Path(args.timeline) if args.timeline else None
    spec = DistributedCell(
        cell or "", args.ranks, args.inputs, args.outputs, args.timeout, timeline
    )
    namespace.update(run_cell(spec, namespace))


def _train(args: argparse.Namespace, **_: Any) -> Any:
    from workbench.jobs.service import JobService
    from workbench.jobs.training_job import training_job
    from workbench.magics.job import Job
    from workbench.training.spec import load_spec, parse_spec

    if (args.spec is None) == (args.model is None):
        raise ArgumentError("%wb train: give a SPEC.yaml or --model M (with --data)")
    if args.spec is not None:
        path = Path(args.spec).expanduser().resolve()
        spec, spec_dir = load_spec(path), path.parent
    else:
        train = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size),
                                   ("lr", args.lr)) if v is not None}  # fmt: skip
        spec = parse_spec({
            "name": args.name or f"{args.model}-{args.data.split('@')[0]}",
            "experiment": args.experiment, "model": {"name": args.model},
            "data": _data(args.data), "train": train,
        })  # fmt: skip
        spec_dir = Path.cwd()
    service = JobService(recover=False)
    job_spec = training_job(spec, ranks=args.ranks, backend=args.backend,
                            working_dir=Path.cwd(), spec_dir=spec_dir)  # fmt: skip
    job = Job(service.submit(job_spec).id, service)
    return job.wait() if args.wait else job


def _data(text: str) -> dict[str, Any]:
    """--data: digits / synthetic, a dataset version NAME@vN, or an image folder."""
    if text in ("digits", "synthetic"):
        return {"source": text}
    if "@" in text:
        return {"dataset": text}
    return {"source": "image_folder", "path": text}


def _select(args: argparse.Namespace, **_: Any) -> dict[str, Any]:
    import optuna

    from workbench.selection.jobs import run_study
    from workbench.selection.spec import load_selection_spec

    path = Path(args.spec).expanduser().resolve()
    spec = load_selection_spec(path, args.trials)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the trials line says how far it is
    try:
        return run_study(spec, path.parent)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _jobs(args: argparse.Namespace, **_: Any) -> Any:
    from workbench.jobs.service import JobService

    jobs = JobService().list(state=args.state, limit=args.limit)
    columns = ["id", "name", "backend", "state", "ranks", "attempt", "reason", "created_at"]
    return _frame([j.to_dict() for j in jobs], columns)


def _logs(args: argparse.Namespace, **_: Any) -> None:
    from workbench.jobs.service import JobService

    for line in JobService().logs(args.job, rank=args.rank, tail=args.tail, follow=args.follow):
        print(line, flush=args.follow)


def _cancel(args: argparse.Namespace, **_: Any) -> dict[str, Any]:
    from workbench.jobs.service import JobService

    return JobService().cancel(args.job).to_dict()


def _runs(args: argparse.Namespace, **_: Any) -> Any:
    from workbench.tracking.client import tracking_client
    from workbench.tracking.queries import experiment_runs

    page = experiment_runs(
        tracking_client(), args.experiment, filter_string=args.filter,
        order_by=args.order_by or None, page_size=args.limit,
    )  # fmt: skip
    rows = [
        {"run_id": r["run_id"], "run_name": r["run_name"], "status": r["status"],
         **{f"params.{k}": v for k, v in r["params"].items()},
         **{f"metrics.{k}": v for k, v in r["metrics"].items()}}
        for r in page.runs
    ]  # fmt: skip
    keys = {key for row in rows for key in row if "." in key}
    columns = sorted(keys, key=lambda k: (k.startswith("metrics."), k))  # params, then metrics
    return _frame(rows, ["run_id", "run_name", "status", *columns])


def _datasets(args: argparse.Namespace, **_: Any) -> Any:
    from workbench.labeling.service import LabelingService

    rows = [
        {"name": d["name"], "versions": len(d["versions"]), "latest": d["latest"]["ref"],
         "items": d["latest"]["items"], "classes": ", ".join(d["latest"]["classes"])}
        for d in LabelingService().datasets()
    ]  # fmt: skip
    return _frame(rows, ["name", "versions", "latest", "items", "classes"])


def _doctor(args: argparse.Namespace, **_: Any) -> Any:
    from workbench.doctor import run_checks

    return _frame([c.as_dict() for c in run_checks()], ["name", "ok", "required", "detail"])


def _label(args: argparse.Namespace, **_: Any) -> Any:
    from workbench.labeling.service import LabelingService

    service = LabelingService()
    if args.action in ("start", "status", "stop"):
        status = {"start": service.start, "status": service.status, "stop": service.stop}
        return status[args.action]().to_dict()
    if not args.project:
        raise ArgumentError(f"%wb label {args.action}: which PROJECT (its id or title)?")
    if args.action == "create":
        record, result = service.create_project(
            args.project, Path(args.images).expanduser().resolve() if args.images else None,
            dataset=args.dataset, classes=_names(args.classes) if args.classes else None,
        )  # fmt: skip
        return {"project": service.projects.summary(record), "import": result.to_dict()}
    if args.action == "predict":
        return service.predict(args.project, model=args.model, auto=args.auto,
                               strategy=args.strategy)  # fmt: skip
    if args.action == "next":
        batch = service.next_batch(args.project, args.n, args.strategy)
        return _frame(batch["tasks"], None) if batch["tasks"] else _frame([], ["task"])
    if args.action == "issues":
        return service.label_errors(args.project, args.n)
    if args.action == "accept":
        return service.accept(args.project, args.min_confidence)
    if not args.dataset:
        raise ArgumentError("%wb label export: --dataset NAME (the name versions publish under)")
    return service.export(args.project, args.dataset)


# -- the parser ----------------------------------------------------------------------------


def parser() -> _Parser:
    root = _Parser(prog="%wb", description="Workbench from a notebook.", add_help=True)
    sub = root.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    cmd = sub.add_parser("distributed", help="(cell magic) run the cell on N MPI ranks")
    cmd.add_argument("-n", "--ranks", type=int, required=True, help="how many ranks")
    cmd.add_argument("--in", dest="inputs", type=_names, default=[], help="a,b: sent to ranks")
    cmd.add_argument("--out", dest="outputs", type=_names, default=[], help="x,y: from rank 0")
    cmd.add_argument("--timeout", type=float, default=None, help="seconds before all stop")
    cmd.add_argument("--timeline", default=None, help="PATH.json: Chrome trace of collectives")
    cmd.set_defaults(run=_distributed)

    cmd = sub.add_parser("train", help="train a model on N ranks (a live Job)")
    cmd.add_argument("spec", nargs="?", default=None, help="a training spec (YAML or JSON)")
    cmd.add_argument("--model", default=None, help="a model of the zoo (instead of a spec)")
    cmd.add_argument("--data", default="digits", help="digits, synthetic, NAME@vN or a folder")
    cmd.add_argument("-n", "--ranks", type=int, default=1)
    cmd.add_argument("--backend", default="local", help="local, slurm or kubernetes")
    cmd.add_argument("--epochs", type=int, default=None)
    cmd.add_argument("--batch-size", type=int, default=None)
    cmd.add_argument("--lr", type=float, default=None)
    cmd.add_argument("--name", default=None)
    cmd.add_argument("-e", "--experiment", default="workbench")
    cmd.add_argument("--wait", action="store_true", help="return once the job has ended")
    cmd.set_defaults(run=_train)

    cmd = sub.add_parser("select", help="an Optuna study over the zoo, each trial a job")
    cmd.add_argument("spec", help="a selection spec (YAML or JSON)")
    cmd.add_argument("--trials", type=int, default=None)
    cmd.set_defaults(run=_select)

    cmd = sub.add_parser("jobs", help="jobs, newest first (a DataFrame)")
    cmd.add_argument("--state", default=None)
    cmd.add_argument("-n", "--limit", type=int, default=20)
    cmd.set_defaults(run=_jobs)

    cmd = sub.add_parser("logs", help="a job's output, tagged by rank")
    cmd.add_argument("job")
    cmd.add_argument("--rank", type=int, default=None)
    cmd.add_argument("--tail", type=int, default=None)
    cmd.add_argument("--follow", "-f", action="store_true")
    cmd.set_defaults(run=_logs)

    cmd = sub.add_parser("cancel", help="stop a job and all its ranks")
    cmd.add_argument("job")
    cmd.set_defaults(run=_cancel)

    cmd = sub.add_parser("runs", help="an experiment's tracked runs (a DataFrame)")
    cmd.add_argument("-e", "--experiment", default="workbench")
    cmd.add_argument("--order-by", action="append", default=[], help="metrics.x DESC")
    cmd.add_argument("--filter", default="", help="MLflow search syntax")
    cmd.add_argument("-n", "--limit", type=int, default=50)
    cmd.set_defaults(run=_runs)

    cmd = sub.add_parser("datasets", help="dataset versions (a DataFrame)")
    cmd.set_defaults(run=_datasets)

    cmd = sub.add_parser("doctor", help="which parts are available (a DataFrame)")
    cmd.set_defaults(run=_doctor)

    cmd = sub.add_parser("label", help="the managed Label Studio and its projects")
    actions = ["start", "status", "stop", "create", "predict", "next", "issues", "accept", "export"]
    cmd.add_argument("action", choices=actions)
    cmd.add_argument("project", nargs="?", default=None, help="its id or title")
    cmd.add_argument("--images", default=None, help="create: an image folder")
    cmd.add_argument("--classes", default=None, help="create: a,b,c (default: class folders)")
    cmd.add_argument("--dataset", default=None, help="create: from NAME@vN; export: NAME")
    cmd.add_argument("--auto", action="store_true", help="predict: with the auto-labeler")
    cmd.add_argument("--model", default=None, help="predict: a registered model NAME[@VERSION]")
    cmd.add_argument("-n", type=int, default=20, help="next / issues: how many tasks")
    cmd.add_argument("--strategy", default="least-confidence")
    cmd.add_argument("--min-confidence", type=float, default=0.0, help="accept: threshold")
    cmd.set_defaults(run=_label)
    return root
