"""Jobs service: submit -> running latency of local jobs, and ``list`` with 10,000 stored jobs.

    python benchmarks/jobs.py [--runs 5] [--ranks 2] [--stored 10000]

Prints one JSON line per measurement (median and max over ``--runs``) with its target:
submit -> running < 2 s (the supervisor has started mpiexec and recorded ``running``; the
line also gives when rank 0 first printed), and ``list`` < 200 ms for the default page
(100 newest) and for all stored jobs. Runs in a throwaway WORKBENCH_HOME.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from workbench.jobs.service import JobService
from workbench.jobs.states import JobState
from workbench.jobs.store import NewJob, new_job_id

ENTRY = """\
from mpi4py import MPI
print(f"rank {MPI.COMM_WORLD.rank} up", flush=True)
"""


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


def summary(name: str, samples: list[float], target_s: float, **extra: Any) -> dict[str, Any]:
    median = statistics.median(samples)
    return {
        "benchmark": name,
        "runs": len(samples),
        "median_s": round(median, 4),
        "max_s": round(max(samples), 4),
        "target_s": target_s,
        "ok": median < target_s,
        **extra,
    }


def submit_to_running(service: JobService, workdir: Path, ranks: int, runs: int) -> None:
    to_running, to_output = [], []
    spec = {"name": "bench", "entry": {"kind": "script", "path": "entry.py"}, "ranks": ranks}
    for _ in range(runs):
        start = time.perf_counter()
        job = service.submit({**spec, "working_dir": str(workdir)})
        while service.store.get(job.id).state not in (JobState.RUNNING, *_terminal()):
            time.sleep(0.002)
        to_running.append(time.perf_counter() - start)
        first = job.log_dir / "rank-0.out"
        while not (first.exists() and first.stat().st_size):
            time.sleep(0.002)
        to_output.append(time.perf_counter() - start)
        done = service.wait(job.id, timeout=60)
        if done.state is not JobState.SUCCEEDED:
            raise RuntimeError(f"benchmark job {done.id} {done.state}: {done.reason}")
    emit(
        summary(
            "jobs.submit_to_running", to_running, 2.0, ranks=ranks,
            rank0_output_median_s=round(statistics.median(to_output), 4),
        )
    )  # fmt: skip


def _terminal() -> tuple[JobState, ...]:
    return tuple(s for s in JobState if s.terminal)


def list_time(service: JobService, stored: int, runs: int) -> None:
    have = service.store.count()
    batch = [
        NewJob(new_job_id(), f"job-{i}", "local", 2, {"name": f"job-{i}"}, Path("/nonexistent"))
        for i in range(max(0, stored - have))
    ]
    for i in range(0, len(batch), 1000):
        service.store.insert_many(batch[i : i + 1000])
    total = service.store.count()
    for limit in (100, None):
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            rows = service.list(limit=limit)
            samples.append(time.perf_counter() - start)
        emit(summary("jobs.list", samples, 0.2, stored=total, limit=limit, returned=len(rows)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--stored", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-bench-jobs-") as tmp:
        os.environ["WORKBENCH_HOME"] = str(Path(tmp) / "home")
        workdir = Path(tmp) / "work"
        workdir.mkdir()
        (workdir / "entry.py").write_text(ENTRY)
        service = JobService()
        submit_to_running(service, workdir, args.ranks, args.runs)
        list_time(service, args.stored, args.runs)


if __name__ == "__main__":
    main()
