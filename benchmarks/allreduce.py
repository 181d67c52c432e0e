"""Allreduce bandwidth: our rings and shared-memory path against MPI, gloo and the link.

    mpiexec -n 2 python benchmarks/allreduce.py [--sizes 1K,64K,1M,64M] [--iters 20] [--profile]

Prints one JSON line per (size, impl) from rank 0 with the median time over ``--iters``
timed calls (each call's time is the slowest rank's) and nccl-tests bandwidths:
``algbw = S / t`` and ``busbw = algbw * 2 (N-1) / N``. For ``sendrecv`` (each rank sends
``S`` bytes to the next rank and receives ``S`` from the previous one: the link limit)
``busbw = algbw``. Impls: ``ring`` (flat), ``hierarchical`` (2 x N/2 grid from 4 ranks; the
flat ring below), ``shm`` (in place in a shared-memory array), ``mpi_allreduce`` (buffer
API), ``gloo`` (torch.distributed), ``sendrecv``. They take turns round by round so a noisy
neighbour hurts all alike. Then fused 200 x 4 KiB vs 200 separate calls, the cost of the
call check, and a summary line with the target ratios at 64 MiB (or the largest size run),
from median and from best times. ``--profile`` adds where the ring's time goes (64 MiB).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.engine.comm import MPICommunicator, import_mpi
from workbench.engine.engine import Engine

MPI = import_mpi()
WORLD = MPI.COMM_WORLD
RANK: int = WORLD.Get_rank()
SIZE: int = WORLD.Get_size()
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
DEFAULT_SIZES = "1K,4K,16K,64K,256K,1M,4M,16M,64M,256M"


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    if text and text[-1] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(text)


def emit(record: dict[str, Any]) -> None:
    if RANK == 0:
        print(json.dumps(record), flush=True)


def bus_factor() -> float:
    return 2.0 * (SIZE - 1) / float(SIZE)


def slowest(times: list[float]) -> list[float]:
    """Per-iteration max over ranks: a collective is done when its last rank is."""
    mine = np.array(times, dtype=np.float64)
    out = np.empty_like(mine)
    WORLD.Allreduce(mine, out, op=MPI.MAX)
    return [float(t) for t in out]


def gloo_allreduce() -> Callable[[npt.NDArray[Any]], Callable[[], object]] | None:
    """torch.distributed gloo on these ranks (port chosen by rank 0, sent over MPI)."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:
        return None
    port = 0
    if RANK == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    port = WORLD.bcast(port, root=0)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=RANK, world_size=SIZE
    )
    torch.set_num_threads(1)

    def make(array: npt.NDArray[Any]) -> Callable[[], object]:
        tensor = torch.zeros(array.size, dtype=torch.float32)  # zeros: in place, stays finite
        return lambda: dist.all_reduce(tensor)

    return make


def build_impls(
    nbytes: int, engines: dict[str, Engine], gloo: Any
) -> dict[str, Callable[[], object]]:
    count = nbytes // 4
    src = np.random.default_rng(RANK).random(count, dtype=np.float32)
    dst = np.empty_like(src)
    link = np.empty_like(src)
    nxt, prev = (RANK + 1) % SIZE, (RANK - 1) % SIZE
    impls: dict[str, Callable[[], object]] = {
        "sendrecv": lambda: WORLD.Sendrecv(src, nxt, 7, link, prev, 7),
        "mpi_allreduce": lambda: WORLD.Allreduce(src, dst, op=MPI.SUM),
    }
    for label in ("ring", "hierarchical"):
        impls[label] = partial(engines[label].allreduce, src, out=dst)
    shm = engines["shm"]
    shared = shm.shared_array((count,), np.float32)  # in place in shared memory
    shared[...] = 0.0  # reduced in place over and over: zeros stay finite
    impls["shm"] = lambda: shm.allreduce(shared, out=shared)
    if gloo is not None:
        impls["gloo"] = gloo(src)
    return impls


def measure(
    impls: dict[str, Callable[[], object]], iters: int, rounds: int
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in impls}
    for fn in impls.values():
        fn()  # warm-up: first-touch pages, connections, buffers
    per_round = max(1, iters // rounds)
    for _ in range(rounds):
        for name, fn in impls.items():
            for _ in range(per_round):
                WORLD.Barrier()
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: slowest(t) for name, t in times.items()}


def report_size(nbytes: int, times: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """Emit one line per impl; return its busbw from the median and from the best time."""
    busbw: dict[str, tuple[float, float]] = {}
    for name, samples in times.items():
        median, best = statistics.median(samples), min(samples)
        factor = 1.0 if name == "sendrecv" else bus_factor()
        busbw[name] = (nbytes / median / 1e9 * factor, nbytes / best / 1e9 * factor)
        emit(
            {
                "size": nbytes,
                "impl": name,
                "ranks": SIZE,
                "time_us": round(median * 1e6, 1),
                "best_us": round(best * 1e6, 1),
                "algbw_GBps": round(nbytes / median / 1e9, 3),
                "busbw_GBps": round(busbw[name][0], 3),
            }
        )
    return busbw


def fusion_benchmark(engines: dict[str, Engine], iters: int) -> dict[str, float]:
    """200 x 4 KiB: separate sync calls vs one grouped call vs 200 async (auto-fused)."""
    from workbench.engine.background import AsyncExecutor
    from workbench.engine.requests import Kind, Request

    ring, shm = engines["ring"], engines["shm"]
    tensors = [np.full(1024, RANK, dtype=np.float32) for _ in range(200)]
    named = list(zip(tensors, [f"t{i}" for i in range(200)], strict=True))
    executor = AsyncExecutor(ring)

    def async_all() -> list[object]:
        handles = [executor.submit(Request(Kind.ALLREDUCE, n, [t])) for t, n in named]
        return [h.wait() for h in handles]

    cases: dict[str, Callable[[], object]] = {
        "separate_200x4K": lambda: [ring.allreduce(t, name=n) for t, n in named],
        "mpi_separate_200x4K": lambda: [WORLD.Allreduce(t, np.empty_like(t)) for t in tensors],
        "fused_200x4K": lambda: ring.grouped_allreduce(tensors, name="grads"),
        "fused_shm_200x4K": lambda: shm.grouped_allreduce(tensors, name="grads"),
        "async_200x4K": async_all,
    }
    times = measure(cases, iters, rounds=max(1, iters // 4))
    executor.stop()
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, median in medians.items():
        emit({"size": 200 * 4096, "impl": name, "ranks": SIZE, "time_us": round(median * 1e6, 1)})
    return medians


def check_cost(iters: int) -> dict[str, float]:
    """Latency of one 4 KiB allreduce: checked (it rides in its call check), unchecked, and
    MPI's own ``Allreduce`` on the same buffer."""
    small = np.ones(1024, dtype=np.float32)
    out = np.empty_like(small)
    checked = Engine(MPICommunicator(), topology="flat", check_calls=True)
    unchecked = Engine(MPICommunicator(), topology="flat", check_calls=False)
    cases = {
        "checked_4K": lambda: checked.allreduce(small, out=out, name="x"),
        "unchecked_4K": lambda: unchecked.allreduce(small, out=out, name="x"),
        "mpi_4K": lambda: WORLD.Allreduce(small, out),
    }
    times = measure(cases, iters * 5, rounds=5)
    medians = {name: statistics.median(t) * 1e6 for name, t in times.items()}
    emit({"impl": "call_check_cost", "ranks": SIZE, **{k: round(v, 1) for k, v in medians.items()}})
    return medians


def make_engines() -> dict[str, Engine]:
    engines = {"ring": Engine(MPICommunicator(), topology="flat")}
    if SIZE >= 4 and SIZE % 2 == 0:  # two (virtual) nodes: hierarchical = the 2 x N/2 grid
        engines["hierarchical"] = Engine(MPICommunicator(), topology=f"2x{SIZE // 2}")
    else:
        engines["hierarchical"] = Engine(MPICommunicator(), topology="hierarchical")
    engines["shm"] = Engine(MPICommunicator(), topology="shm")
    return engines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-gloo", action="store_true")
    parser.add_argument("--profile", action="store_true", help="where the ring's time goes")
    parser.add_argument("--profile-size", default="64M")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    engines = make_engines()
    gloo = None if args.no_gloo else gloo_allreduce()
    emit(
        {
            "ranks": SIZE,
            "algorithms": {k: e.algorithm.name for k, e in engines.items()},
            "ring_chunk_bytes": engines["ring"].workspace.chunk_bytes,
            "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        }
    )
    at_target: tuple[int, dict[str, tuple[float, float]]] = (0, {})
    for nbytes in sizes:
        iters = args.iters if nbytes >= 1 << 20 else args.iters * 5
        busbw = report_size(nbytes, measure(build_impls(nbytes, engines, gloo), iters, args.rounds))
        if nbytes <= 64 << 20 or not at_target[1]:
            at_target = (nbytes, busbw)
    fused = fusion_benchmark(engines, args.iters)
    small = check_cost(args.iters)
    summary_line(*at_target, fused, small)
    if args.profile:
        emit(profile_ring(parse_size(args.profile_size), args.iters))


class _TimedRequest:
    def __init__(self, request: Any, clock: dict[str, float]) -> None:
        self.request, self.clock = request, clock

    def Wait(self) -> None:
        start = time.perf_counter()
        self.request.Wait()
        self.clock["wait_recv_ms"] += time.perf_counter() - start

    def Test(self) -> bool:
        return bool(self.request.Test())


def timed_ring_parts(clock: dict[str, float]) -> tuple[MPICommunicator, Any]:
    """A communicator and a reducer that add the time of each call to ``clock``."""
    from workbench.engine.reduce_ops import FLOAT32, ReduceOp, Reducer

    class TimedComm(MPICommunicator):
        def irecv(self, buf: Any, source: int, tag: int) -> Any:
            start = time.perf_counter()
            request = _TimedRequest(super().irecv(buf, source, tag), clock)
            clock["post_recv_ms"] += time.perf_counter() - start  # CMA copies can happen here
            return request

        def isend(self, buf: Any, dest: int, tag: int) -> Any:
            start = time.perf_counter()
            request = super().isend(buf, dest, tag)
            clock["post_send_ms"] += time.perf_counter() - start
            return request

        def waitall(self, requests: Any) -> None:
            start = time.perf_counter()
            super().waitall([getattr(r, "request", r) for r in requests])
            clock["waitall_ms"] += time.perf_counter() - start

    class TimedReducer(Reducer):
        def reduce_into(self, out: Any, a: Any, b: Any) -> None:
            start = time.perf_counter()
            super().reduce_into(out, a, b)
            clock["reduce_ms"] += time.perf_counter() - start

    return TimedComm(), TimedReducer(ReduceOp.SUM, FLOAT32)


def memory_reference(
    src: npt.NDArray[Any], dst: npt.NDArray[Any], scratch: npt.NDArray[Any]
) -> dict[str, float]:
    """What plain numpy takes, all ranks at once: copy the buffer, add one segment."""
    WORLD.Barrier()
    start = time.perf_counter()
    np.copyto(scratch, src)
    copy_ms = (time.perf_counter() - start) * 1e3
    half = src.size // SIZE
    WORLD.Barrier()
    start = time.perf_counter()
    np.add(src[:half], scratch[:half], out=dst[:half])
    add_ms = (time.perf_counter() - start) * 1e3
    return {"numpy_copy_buffer_ms": round(copy_ms, 2), "numpy_add_segment_ms": round(add_ms, 2)}


def profile_ring(nbytes: int, iters: int) -> dict[str, Any]:
    """Where the flat ring's time goes at ``nbytes``: MPI calls vs numpy vs Python."""
    from workbench.engine.ring import RingWorkspace, ring_allreduce

    keys = ["post_recv_ms", "wait_recv_ms", "post_send_ms", "waitall_ms", "reduce_ms"]
    clock = dict.fromkeys(keys, 0.0)
    comm, reducer = timed_ring_parts(clock)
    workspace = RingWorkspace()
    src = np.random.default_rng(RANK).random(nbytes // 4, dtype=np.float32)
    dst, scratch = np.empty_like(src), np.ones_like(src)  # touched: no page faults timed
    ring_allreduce(comm, src, dst, reducer, workspace)
    clock.update(dict.fromkeys(keys, 0.0))
    total = 0.0
    for _ in range(iters):
        WORLD.Barrier()
        start = time.perf_counter()
        ring_allreduce(comm, src, dst, reducer, workspace)
        total += time.perf_counter() - start
    per_call = {k: round(v / iters * 1e3, 2) for k, v in clock.items()}
    per_call["python_other_ms"] = round(total / iters * 1e3 - sum(per_call.values()), 2)
    return {
        "profile": "ring",
        "size": nbytes,
        "ranks": SIZE,
        "chunk_bytes": workspace.chunk_bytes,
        "total_ms": round(total / iters * 1e3, 2),
        **per_call,
        **memory_reference(src, dst, scratch),
    }


def summary_line(
    nbytes: int,
    busbw: dict[str, tuple[float, float]],
    fused: dict[str, float],
    small: dict[str, float],
) -> None:
    pairs = {
        "ring_vs_mpi_allreduce": ("ring", "mpi_allreduce"),
        "ring_vs_gloo": ("ring", "gloo"),
        "ring_vs_sendrecv": ("ring", "sendrecv"),
        "hierarchical_vs_sendrecv": ("hierarchical", "sendrecv"),
        "shm_vs_sendrecv": ("shm", "sendrecv"),
        "shm_vs_mpi_allreduce": ("shm", "mpi_allreduce"),
    }

    def ratios(which: int) -> dict[str, float]:
        return {
            label: round(busbw[a][which] / busbw[b][which], 2)
            for label, (a, b) in pairs.items()
            if a in busbw and b in busbw
        }

    emit(
        {
            "summary": True,
            "ranks": SIZE,
            "size": nbytes,
            "busbw_GBps": {k: round(v[0], 3) for k, v in busbw.items()},
            "ratios": ratios(0),
            "ratios_of_best_times": ratios(1),
            "fused_speedup": round(fused["separate_200x4K"] / fused["fused_200x4K"], 1),
            "fused_shm_speedup": round(fused["separate_200x4K"] / fused["fused_shm_200x4K"], 1),
            "async_fused_speedup": round(fused["separate_200x4K"] / fused["async_200x4K"], 1),
            "async_vs_fused": round(fused["async_200x4K"] / fused["fused_200x4K"], 2),
            "small_4K_vs_mpi": round(small["checked_4K"] / small["mpi_4K"], 2),
            "targets": "ring >= 2x mpi_allreduce and gloo, >= 0.6x sendrecv; "
            "shm >= 0.9x sendrecv; fused >= 5x separate; async_vs_fused <= 1.5; "
            "small_4K_vs_mpi <= 2.5",
        }
    )


if __name__ == "__main__":
    main()
