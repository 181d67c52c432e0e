"""Tensor swapping benchmark: baseline vs host vs disk tier, for a deep CNN and a U-Net.

Prints one JSON line per (model, mode) and a summary line with the ratios the targets
name: peak resident saved-activation bytes (disk / baseline), step time (disk / plain
PyTorch), and the largest batch that fits a fixed activation budget with and without
swapping. On CUDA it adds torch.cuda.max_memory_allocated, the largest batch at a fixed
GPU memory cap (set_per_process_memory_fraction) and torch's save_on_cpu at equal batch.

    .venv/bin/python benchmarks/swap.py [--batch 32] [--steps 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch import nn

from workbench.engine import swap
from workbench.training.models import build_model

MiB = 1 << 20


def deep_cnn(width: int = 32, depth: int = 16) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1)]
    for _ in range(depth):
        layers += [nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)]
    return nn.Sequential(*layers)


def unet() -> nn.Module:
    model: nn.Module = build_model("unet", in_channels=3, num_classes=2, width=16, depth=3)
    return model


MODELS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    "deep_cnn": (deep_cnn, 32),  # builder, image size
    "unet": (unet, 64),
}


Context = Callable[[], AbstractContextManager[object]]


def one_step(model: nn.Module, x: torch.Tensor, ctx: Context) -> tuple[float, object]:
    model.zero_grad(set_to_none=True)
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with ctx() as stats:
        loss = model(x).float().square().mean()
    loss.backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start, stats


def interleaved(
    model: nn.Module, x: torch.Tensor, contexts: dict[str, Context], steps: int
) -> dict[str, tuple[float, object]]:
    """Median step time of each mode, the modes taking turns step by step so that noise
    from a shared machine falls on all of them alike; the first round only warms up."""
    times: dict[str, list[float]] = {mode: [] for mode in contexts}
    last: dict[str, object] = {}
    for round_ in range(steps + 1):
        for mode, ctx in contexts.items():
            seconds, last[mode] = one_step(model, x, ctx)
            if round_ > 0:
                times[mode].append(seconds)
    return {mode: (statistics.median(times[mode]), last[mode]) for mode in contexts}


def run_model(name: str, args: argparse.Namespace, spill: str) -> dict[str, float]:
    build, size = MODELS[name]
    torch.manual_seed(0)
    model = build().to(args.device)
    x = torch.randn(args.batch, 3, size, size, device=args.device)
    count = swap.SwapPolicy(tier="none", min_bytes=0)
    _, baseline = one_step(model, x, lambda: swap.activations(count, keep=[x]))
    assert isinstance(baseline, swap.SwapStats)
    target = int(baseline.peak_resident_bytes * args.target_fraction)
    policies = {
        "count": count,
        "host": swap.SwapPolicy(tier="host", min_bytes=args.min_bytes, keep_resident=2),
        "disk_all": swap.SwapPolicy(
            tier="disk", min_bytes=args.min_bytes, keep_resident=2, spill_dir=spill
        ),
        "disk_auto": swap.SwapPolicy.auto(target, tier="disk", spill_dir=spill),
    }
    contexts: dict[str, Context] = {"plain": nullcontext}
    for mode, policy in policies.items():
        contexts[mode] = lambda p=policy: swap.activations(p, keep=[x])
    out: dict[str, float] = {}
    for mode, (seconds, stats) in interleaved(model, x, contexts, args.steps).items():
        row: dict[str, object] = {
            "model": name,
            "mode": mode,
            "batch": args.batch,
            "step_s": seconds,
        }
        if isinstance(stats, swap.SwapStats):
            row |= {
                "peak_resident_bytes": stats.peak_resident_bytes,
                "swapped_out_bytes": stats.swapped_out_bytes,
                "wait_s": stats.wait_seconds,
            }
            out[f"{mode}_peak"] = stats.peak_resident_bytes
        emit(row)
        out[f"{mode}_step_s"] = seconds
    if args.device == "cuda":
        out.update(cuda_rows(name, model, x, args))
    budget = int(out["count_peak"] * args.budget_fraction)
    make = lambda n: torch.randn(n, 3, size, size, device=args.device)  # noqa: E731
    without = swap.max_batch(model, make, budget, limit=args.batch_limit)
    with_swap = swap.max_batch(
        model,
        make,
        budget,
        policy=swap.SwapPolicy.auto(budget, tier="disk", spill_dir=spill),
        limit=args.batch_limit,
    )
    emit(
        {
            "model": name,
            "mode": "max_batch",
            "budget_bytes": budget,
            "without_swap": without,
            "with_disk_swap": with_swap,
        }
    )
    out["max_batch_ratio"] = with_swap / max(without, 1)
    return out


def cuda_rows(
    name: str, model: nn.Module, x: torch.Tensor, args: argparse.Namespace
) -> dict[str, float]:
    rows: dict[str, float] = {}
    contexts = {
        "plain": nullcontext,
        "save_on_cpu": lambda: torch.autograd.graph.save_on_cpu(pin_memory=True),
        "host": lambda: swap.activations(
            swap.SwapPolicy(tier="host", min_bytes=args.min_bytes), keep=[x]
        ),
    }
    for mode, ctx in contexts.items():
        torch.cuda.reset_peak_memory_stats()
        one_step(model, x, ctx)
        rows[f"cuda_{mode}_peak"] = torch.cuda.max_memory_allocated()
    for mode, (seconds, _) in interleaved(model, x, contexts, args.steps).items():
        peak = rows[f"cuda_{mode}_peak"]
        emit(
            {"model": name, "mode": f"cuda_{mode}", "step_s": seconds, "max_memory_allocated": peak}
        )
        rows[f"cuda_{mode}_step_s"] = seconds
    rows.update(cuda_capped_rows(name, model, x, args))
    return rows


def cuda_capped_rows(
    name: str, model: nn.Module, x: torch.Tensor, args: argparse.Namespace
) -> dict[str, float]:
    """As the seed measured it: at a GPU memory cap, the largest batch with and without
    swapping, and the step time of 2x the batch swapped under the cap vs unswapped, uncapped."""
    total = torch.cuda.get_device_properties(x.device).total_memory
    cap = min(1.0, args.gpu_cap_bytes / total) if args.gpu_cap_bytes else args.gpu_cap_fraction
    shape = tuple(x.shape[1:])
    make = lambda n: torch.randn(n, *shape, device=x.device)  # noqa: E731
    policy = swap.SwapPolicy(tier="host", min_bytes=args.min_bytes, keep_resident=2)
    unlimited = 1 << 62  # only running out of CUDA memory limits the batch here
    double = make(2 * x.shape[0])
    uncapped, _ = interleaved(model, double, {"plain": nullcontext}, args.steps)["plain"]
    torch.cuda.set_per_process_memory_fraction(cap)
    try:
        torch.cuda.empty_cache()
        without = swap.max_batch(model, make, unlimited, limit=args.batch_limit)
        with_swap = swap.max_batch(model, make, unlimited, policy=policy, limit=args.batch_limit)
        swapped_ctx = {"host": lambda: swap.activations(policy, keep=[double])}
        capped, _ = interleaved(model, double, swapped_ctx, args.steps)["host"]
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        torch.cuda.empty_cache()
    emit({"model": name, "mode": "cuda_capped", "cap_fraction": cap,
          "max_batch_without_swap": without, "max_batch_with_host_swap": with_swap,
          "batch_2x": 2 * x.shape[0], "step_s_2x_swapped_capped": capped,
          "step_s_2x_plain_uncapped": uncapped})  # fmt: skip
    return {
        "cuda_max_batch_ratio": with_swap / max(without, 1),
        "cuda_2x_overhead": capped / uncapped - 1.0,
    }


def emit(row: dict[str, object]) -> None:
    print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--min-bytes", type=int, default=256 << 10)
    parser.add_argument(
        "--budget-fraction",
        type=float,
        default=0.25,
        help="activation budget for max-batch, as a fraction of the baseline peak",
    )
    parser.add_argument(
        "--target-fraction",
        type=float,
        default=0.3,
        help="disk_auto keeps resident saved activations under this fraction of the baseline",
    )
    parser.add_argument("--gpu-cap-fraction", type=float, default=0.25)
    parser.add_argument("--gpu-cap-bytes", type=int, default=0, help="overrides the fraction")
    parser.add_argument("--batch-limit", type=int, default=1024)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    summary: dict[str, object] = {
        "summary": True,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory(prefix="wb-swap-bench-") as spill:
        for name in args.models.split(","):
            r = run_model(name, args, spill)
            summary[name] = {
                "disk_auto_peak_ratio": round(r["disk_auto_peak"] / r["count_peak"], 3),
                "disk_auto_step_ratio": round(r["disk_auto_step_s"] / r["plain_step_s"], 3),
                "disk_all_peak_ratio": round(r["disk_all_peak"] / r["count_peak"], 3),
                "disk_all_step_ratio": round(r["disk_all_step_s"] / r["plain_step_s"], 3),
                "host_step_ratio": round(r["host_step_s"] / r["plain_step_s"], 3),
                "max_batch_ratio": round(r["max_batch_ratio"], 2),
            }
            if args.device == "cuda":
                summary[name] |= {  # type: ignore[operator]
                    "cuda_host_peak_ratio": round(r["cuda_host_peak"] / r["cuda_plain_peak"], 3),
                    "cuda_host_vs_save_on_cpu_step": round(
                        r["cuda_host_step_s"] / r["cuda_save_on_cpu_step_s"], 3
                    ),
                    "cuda_max_batch_ratio": round(r["cuda_max_batch_ratio"], 2),
                    "cuda_2x_overhead": round(r["cuda_2x_overhead"], 3),
                }
    emit(summary)


if __name__ == "__main__":
    main()
