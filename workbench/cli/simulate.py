"""``workbench simulate run|validate|calibrate``: the scaling simulator from YAML files.

The engine (``workbench.engine.simulate``) does the arithmetic; here YAML is read, zoo
names become gradient bytes (the zoo model is built and its parameters counted), and
results become a table, JSON or a PNG plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from workbench.cli.console import JsonOption, console, echo_json, exit_on_errors

simulate_app = typer.Typer(
    help="Predict step time and scaling efficiency of data-parallel training on a cluster.",
    no_args_is_help=True,
)

Algorithms = Annotated[
    list[str] | None,
    typer.Option(
        "--algorithm", "-a",
        help="ring, hierarchical, multiring, halving_doubling or tree (repeat; default all).",
    ),
]  # fmt: skip


def load_model(path: Path) -> Any:
    """A model file as the engine's Model; ``zoo: NAME`` (+ ``zoo_params``) counts that
    zoo model's trainable parameters (times ``gradient_dtype_bytes``, default 4)."""
    from workbench.engine.simulate import SimulatorInputError, model_from_mapping
    from workbench.errors import NotFound
    from workbench.validation import read_mapping_file

    raw = read_mapping_file(path, "model file")
    if raw.get("zoo") is None:
        return model_from_mapping(raw)
    from workbench.training.models.parameters import count_trainable_parameters

    if "gradient_MB" in raw:
        raise SimulatorInputError("model: give gradient_MB or zoo, not both")
    dtype_bytes = raw.get("gradient_dtype_bytes", 4)
    if isinstance(dtype_bytes, bool) or not isinstance(dtype_bytes, int) or dtype_bytes < 1:
        raise SimulatorInputError(
            f"model.gradient_dtype_bytes: must be 1, 2, 4 or 8, got {dtype_bytes!r}"
        )
    try:
        count = count_trainable_parameters(str(raw["zoo"]), raw.get("zoo_params") or {})
    except NotFound as exc:
        raise SimulatorInputError(f"model.zoo: {exc}") from None
    engine_raw = {
        k: v for k, v in raw.items() if k not in ("zoo", "zoo_params", "gradient_dtype_bytes")
    }
    engine_raw.setdefault("name", str(raw["zoo"]))
    return model_from_mapping(engine_raw, gradient_bytes=float(count * dtype_bytes))


def load_cluster(path: Path, bucket_mb: float | None, overlap: float | None) -> tuple[Any, Any]:
    from dataclasses import replace

    from workbench.engine.simulate import (
        SimulatorInputError,
        cluster_from_mapping,
        fusion_from_mapping,
    )
    from workbench.validation import read_mapping_file

    raw = read_mapping_file(path, "cluster file")
    cluster, fusion = cluster_from_mapping(raw), fusion_from_mapping(raw)
    if bucket_mb is not None:
        if not bucket_mb > 0:
            raise SimulatorInputError(f"--bucket-mb must be > 0, got {bucket_mb}")
        fusion = replace(fusion, bucket_bytes=bucket_mb * 1e6)
    if overlap is not None:
        if not 0.0 <= overlap <= 1.0:
            raise SimulatorInputError(f"--overlap must be in [0, 1], got {overlap}")
        fusion = replace(fusion, overlap=overlap)
    return cluster, fusion


def _curves_payload(
    cluster: Any, model: Any, fusion: Any, curves: dict[str, list[Any]]
) -> dict[str, Any]:
    return {
        "cluster": cluster.name,
        "model": {"name": model.name, "gradient_bytes": model.gradient_bytes,
                  "compute_s": model.compute_time, "backward_fraction": model.backward_fraction},
        "fusion": {"bucket_bytes": fusion.bucket_bytes, "overlap": fusion.overlap},
        "algorithms": {
            name: [
                {"gpus": s.gpus, "step_s": s.step, "efficiency": s.efficiency,
                 "speedup": s.speedup, "allreduce_s": s.communication, "exposed_s": s.exposed}
                for s in steps
            ]
            for name, steps in curves.items()
        },
    }  # fmt: skip


def _curves_table(title: str, curves: dict[str, list[Any]]) -> Table:
    table = Table(title=title)
    table.add_column("GPUs", justify="right")
    for name in curves:
        table.add_column(f"{name}\nstep ms / eff", justify="right")
    counts = [s.gpus for s in next(iter(curves.values()))]
    for i, gpus in enumerate(counts):
        cells = [f"{c[i].step * 1e3:.1f} / {c[i].efficiency * 100:.1f}%" for c in curves.values()]
        table.add_row(str(gpus), *cells)
    return table


def plot_curves(path: Path, title: str, curves: dict[str, list[Any]]) -> None:
    """Scaling efficiency against GPUs (log2 axis), one line per algorithm, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for name, steps in curves.items():
        ax.plot(
            [s.gpus for s in steps], [s.efficiency * 100 for s in steps], marker="o", label=name
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("GPUs")
    ax.set_ylabel("scaling efficiency (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@simulate_app.command("run")
def run(
    cluster_file: Annotated[Path, typer.Argument(help="Cluster YAML.")],
    model_file: Annotated[Path, typer.Argument(help="Model YAML (gradient_MB or zoo: NAME).")],
    algorithm: Algorithms = None,
    max_gpus: Annotated[int, typer.Option(help="Largest GPU count (powers of two from 1).")] = 1024,
    bucket_mb: Annotated[
        float | None, typer.Option(help="Fusion bucket in MB (1e6 bytes).")
    ] = None,
    overlap: Annotated[
        float | None, typer.Option(help="Fraction of backward a bucket may hide behind.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Also write a PNG plot here.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Step time and scaling efficiency from 1 to --max-gpus GPUs, per algorithm."""
    from workbench.engine.simulate import scaling

    with exit_on_errors("simulator input"):
        cluster, fusion = load_cluster(cluster_file, bucket_mb, overlap)
        model = load_model(model_file)
        curves = scaling(cluster, model, fusion, algorithm, max_gpus)
    title = f"{model.name} on {cluster.name}"
    if plot is not None:
        plot_curves(plot, title, curves)
    if as_json:
        echo_json(_curves_payload(cluster, model, fusion, curves))
        return
    console.print(_curves_table(title, curves))
    if plot is not None:
        console.print(f"plot written to {plot}", markup=False)


def _markdown(results: list[Any]) -> str:
    header = ["cluster", "model", "algorithm", "GPUs", "published", "simulated", "error"]
    lines = ["| " + " | ".join([*header, "holds", "source"]) + " |", "|---" * 9 + "|"]
    for r in results:
        p = r.point
        efficiency = p.measure == "efficiency"
        unit, scale = ("%", 100.0) if efficiency else ("x", 1.0)
        cells = [p.cluster, p.model, p.algorithm, str(p.gpus)]
        cells += [f"{p.published * scale:.1f}{unit}", f"{r.simulated * scale:.1f}{unit}"]
        cells += [f"{r.error:+.1f} {'pts' if efficiency else '%'}"]
        cells += ["yes" if r.holds else "**no**", p.source]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@simulate_app.command("validate")
def validate(
    validation_file: Annotated[
        Path, typer.Argument(help="Validation YAML (clusters, models, points).")
    ],
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Every published point against the simulator with its cluster's one input set."""
    from workbench.engine.simulate import check, validation_from_mapping
    from workbench.validation import read_mapping_file

    with exit_on_errors("validation file"):
        results = check(
            validation_from_mapping(read_mapping_file(validation_file, "validation file"))
        )
    if as_json:
        echo_json(
            [
                {**vars(r.point), "simulated": r.simulated, "error": r.error, "holds": r.holds}
                for r in results
            ]
        )
        return
    if markdown:
        typer.echo(_markdown(results))
        return
    table = Table(title="published vs simulated")
    for column in (
        "cluster",
        "model",
        "algorithm",
        "GPUs",
        "published",
        "simulated",
        "error",
        "holds",
    ):
        table.add_column(column)
    for r in results:
        scale = 100.0 if r.point.measure == "efficiency" else 1.0
        table.add_row(r.point.cluster, r.point.model, r.point.algorithm, str(r.point.gpus),
                      f"{r.point.published * scale:.1f}", f"{r.simulated * scale:.1f}",
                      f"{r.error:+.1f}", "yes" if r.holds else "[red]no[/]")  # fmt: skip
    console.print(table)
    held = sum(r.holds for r in results)
    console.print(f"{held} of {len(results)} points within tolerance")


def read_records(lines: list[str]) -> list[dict[str, Any]]:
    """The JSON objects among ``lines`` (the benchmark prints one per line)."""
    import json

    records = []
    for line in lines:
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def run_benchmark(ranks: int, sizes: str, iters: int) -> list[str]:
    """``benchmarks/allreduce.py`` under mpiexec, the ring at every size; its stdout lines."""
    import subprocess
    import sys
    import tempfile

    import workbench
    from workbench.errors import NotFound, WorkbenchError
    from workbench.jobs.backends.local import NO_MPIEXEC, child_env, find_mpiexec, mpiexec_argv
    from workbench.progress import bar

    script = Path(workbench.__file__).resolve().parents[1] / "benchmarks" / "allreduce.py"
    if not script.is_file():
        raise NotFound(
            f"{script} not found: run the benchmark from a source checkout and pass --from"
        )
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise NotFound(NO_MPIEXEC)
    argv = [*mpiexec_argv(mpiexec, ranks), sys.executable, str(script),
            "--sizes", sizes, "--iters", str(iters), "--no-gloo"]  # fmt: skip
    env = child_env({"WORKBENCH_SMALL_ALLREDUCE_BYTES": "0", "OMP_NUM_THREADS": "1"})
    lines: list[str] = []
    with (
        tempfile.TemporaryFile("w+") as errors,
        bar(len(sizes.split(",")), "allreduce benchmark", unit="size") as progress,
    ):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if '"impl": "sendrecv"' in line:
                progress.update()
        if proc.wait() != 0:
            errors.seek(0)
            tail = errors.read()[-2000:]
            raise WorkbenchError(
                f"the allreduce benchmark failed (exit {proc.returncode}):\n{tail}"
            )
    return lines


@simulate_app.command("calibrate")
def calibrate(
    output: Annotated[Path, typer.Option("--output", "-o", help="Cluster YAML to write.")] = Path(
        "cluster.yaml"
    ),
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="Saved benchmark output (JSON lines) instead of running it."),
    ] = None,
    ranks: Annotated[int, typer.Option(help="Ranks to run the benchmark on.")] = 2,
    sizes: Annotated[
        str, typer.Option(help="Message sizes for the benchmark.")
    ] = "4K,64K,1M,4M,16M",
    iters: Annotated[int, typer.Option(help="Timed calls per size (x5 below 1 MiB).")] = 10,
    save: Annotated[
        Path | None, typer.Option(help="Also save the benchmark's output here.")
    ] = None,
    name: Annotated[str, typer.Option(help="Cluster name in the YAML.")] = "this-machine",
    as_json: JsonOption = False,
) -> None:
    """Fit this machine's alpha, beta, gamma from the allreduce benchmark; write a cluster YAML."""
    import yaml

    from workbench.engine.simulate import fit
    from workbench.errors import NotFound

    with exit_on_errors("calibration"):
        if from_file is not None:
            if not from_file.is_file():
                raise NotFound(f"benchmark output {from_file} does not exist")
            lines = from_file.read_text().splitlines()
        else:
            lines = run_benchmark(ranks, sizes, iters)
            if save is not None:
                save.write_text("".join(lines))
        calibration = fit(read_records(lines))
    mapping = calibration.cluster_mapping(name)
    header = (
        f"# workbench simulate calibrate: {calibration.samples} benchmark records on "
        f"{calibration.ranks} ranks, rms relative error {calibration.rms_relative_error:.1%}.\n"
        "# One machine was measured: inter_node repeats intra_node; edit it for a cluster.\n"
    )
    output.write_text(header + yaml.safe_dump(mapping, sort_keys=False))
    summary = {**vars(calibration), "cluster": mapping, "output": str(output)}
    if as_json:
        echo_json(summary)
        return
    console.print(
        f"alpha {calibration.alpha * 1e6:.2f} us, beta {1 / calibration.beta / 1e9:.3f} GB/s, "
        f"gamma {calibration.gamma * 1e9:.4f} ns/byte "
        f"(rms error {calibration.rms_relative_error:.1%}); "
        f"wrote {output}",
        markup=False,
    )
