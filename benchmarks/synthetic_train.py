"""Synthetic training throughput (like Horovod's pytorch_synthetic_benchmark.py).

    python benchmarks/synthetic_train.py [--model resnet18] [--batch 32] [--steps 8] [--device cuda]

Runs a small ResNet on random 32x32 images, one torch thread per rank, in separate
``mpiexec`` launches within this one run: ``single`` (plain torch, 1 process, the baseline),
then on ``--ranks`` ranks ``wb-overlap`` (``workbench.engine.torch.DistributedOptimizer``,
gradients reduced during backward), ``wb-no-overlap`` (all gradients reduced at ``step()``)
and ``ddp-gloo`` (``torch.nn.parallel.DistributedDataParallel`` over gloo), plus
``independent`` (N processes training alone at once, no communication). Prints one JSON
line per configuration (images/sec over the timed steps, after warm-up) and a summary with
scaling efficiency ``ips(N ranks) / (N * ips(single))``, the ratio to DDP, and
``ips(N ranks) / ips(independent)``: the cost of synchronising alone, which stays
meaningful when the box is shared (other load slows ``single`` and N ranks differently).
The configurations take turns ``--rounds`` times (this box is shared; best rounds count).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MODES = ("single", "independent", "wb-overlap", "wb-no-overlap", "ddp-gloo")
SYNCED = ("wb-overlap", "wb-no-overlap", "ddp-gloo")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--batch", type=int, default=32, help="images per rank per step")
    parser.add_argument("--steps", type=int, default=8, help="timed steps")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda"),
        help="cuda: rank r trains on GPU r %% device count (ddp then uses nccl)",
    )
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- inside a rank -------------------------------------------------------------------------
def world() -> tuple[int, int]:
    env = os.environ
    return int(env.get("OMPI_COMM_WORLD_RANK", "0")), int(env.get("OMPI_COMM_WORLD_SIZE", "1"))


def wrap_for_mode(mode: str, model: Any, optimizer: Any, device: Any) -> tuple[Any, Any, Any]:
    """(model, optimizer, barrier) for ``mode``."""
    if mode in ("single", "independent"):
        return model, optimizer, lambda: None
    if mode == "ddp-gloo":
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        rank, size = world()
        backend = "nccl" if device.type == "cuda" else "gloo"  # DDP's own best on each
        dist.init_process_group(backend, rank=rank, world_size=size)
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids), optimizer, dist.barrier
    import workbench.engine.torch as hvd

    hvd.init()
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    optimizer = hvd.DistributedOptimizer(
        optimizer, named_parameters=model.named_parameters(), overlap=mode == "wb-overlap"
    )
    return model, optimizer, hvd.barrier


def run_worker(args: argparse.Namespace) -> None:
    import torch

    from workbench.training.models import build_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rank, size = world()
    device = torch.device("cpu")
    if args.device == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    model = build_model(args.model, num_classes=10, small_input=True).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model, optimizer, barrier = wrap_for_mode(args.worker, model, optimizer, device)
    images = torch.randn(args.batch, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (args.batch,), device=device)
    step_times = []
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            barrier()
        start = time.perf_counter()
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        step_times.append(time.perf_counter() - start)
    barrier()
    timed = sum(step_times[args.warmup :])
    if rank == 0:
        record = {
            "mode": args.worker,
            "ranks": size,
            "model": args.model,
            "device": args.device,
            "batch_per_rank": args.batch,
            "steps": args.steps,
            "images_per_sec": round(size * args.batch * args.steps / timed, 2),
            "step_s": round(timed / args.steps, 4),
        }
        print(json.dumps(record), flush=True)


# -- the launcher --------------------------------------------------------------------------
def mpiexec_argv(n: int) -> list[str]:
    beside = Path(sys.executable).parent / "mpiexec"
    argv = [str(beside) if beside.exists() else "mpiexec", "-n", str(n), "--oversubscribe"]
    if os.geteuid() == 0:
        argv.append("--allow-run-as-root")
    return argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    ranks = 1 if mode == "single" else args.ranks
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port())})
    env.setdefault("OMPI_MCA_osc", "^ucx")
    worker = [sys.executable, __file__, "--worker", mode, "--model", args.model]
    worker += ["--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    worker += ["--device", args.device]
    proc = subprocess.run(
        [*mpiexec_argv(ranks), *worker], capture_output=True, text=True, env=env, timeout=900
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{mode} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def summarize(best: dict[str, dict[str, Any]], ranks: int) -> dict[str, Any]:
    ips = {mode: rec["images_per_sec"] for mode, rec in best.items()}
    summary: dict[str, Any] = {"summary": True, "ranks": ranks, "images_per_sec": ips}
    single = ips.get("single")
    alone = ips.get("independent")
    for mode in SYNCED:
        if single and mode in ips:
            summary[f"scaling_efficiency_{mode}"] = round(ips[mode] / (ranks * single), 3)
        if alone and mode in ips:
            summary[f"vs_independent_{mode}"] = round(ips[mode] / alone, 3)
    if "ddp-gloo" in ips:
        for mode in ("wb-overlap", "wb-no-overlap"):
            if mode in ips:
                summary[f"{mode}_vs_ddp"] = round(ips[mode] / ips["ddp-gloo"], 3)
    return summary


def main() -> None:
    args = parse_args()
    if args.worker:
        run_worker(args)
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        raise SystemExit(f"unknown --modes {unknown}; choose from {list(MODES)}")
    best: dict[str, dict[str, Any]] = {}
    for round_no in range(args.rounds):
        for mode in modes:
            record = {**launch(mode, args), "round": round_no}
            print(json.dumps(record), flush=True)
            if mode not in best or record["images_per_sec"] > best[mode]["images_per_sec"]:
                best[mode] = record
    print(json.dumps(summarize(best, args.ranks)), flush=True)


if __name__ == "__main__":
    main()
