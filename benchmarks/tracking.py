"""Run queries with many stored runs: how long the UI waits for a page.

Fills an embedded MLflow store (sqlite, a temp WORKBENCH_HOME) with N runs of an
experiment (params, 10-step metric histories), then times each query the UI makes;
prints one JSON line per query and a summary.

    .venv/bin/python benchmarks/tracking.py [--runs 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable

from mlflow.entities import Metric, Param
from tqdm import tqdm


def timed(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-track-bench-") as home:
        os.environ["WORKBENCH_HOME"] = home
        os.environ.pop("MLFLOW_TRACKING_URI", None)
        from workbench.tracking.client import (
            experiment_id,
            refresh_store_statistics,
            tracking_client,
        )
        from workbench.tracking.queries import (
            compare_runs,
            list_experiments,
            metric_history,
            search_runs,
        )

        client = tracking_client()
        exp = experiment_id(client, "bench")
        ids = []
        fill_start = time.perf_counter()
        for i in tqdm(range(args.runs), desc="filling store", mininterval=2):
            run = client.create_run(exp, run_name=f"run-{i}")
            now = int(time.time() * 1000)
            client.log_batch(
                run.info.run_id,
                params=[
                    Param("model", ("mlp", "small_cnn", "resnet18")[i % 3]),
                    Param("lr", str(0.001 * (1 + i % 10))),
                ],
                metrics=[Metric("accuracy", (i % 997) / 997 + s / 100, now, s) for s in range(10)],
            )
            client.set_terminated(run.info.run_id)
            ids.append(run.info.run_id)
        fill_s = time.perf_counter() - fill_start
        refresh_store_statistics()  # what the last run's end (or the lab's start) does
        first = search_runs(client, [exp], page_size=50)
        queries: dict[str, Callable[[], object]] = {
            "list_experiments": lambda: list_experiments(client),
            "first_page_newest": lambda: search_runs(client, [exp], page_size=50),
            "next_page": lambda: search_runs(
                client, [exp], page_size=50, page_token=first.next_page_token
            ),
            "sorted_by_metric": lambda: search_runs(
                client, [exp], page_size=50, order_by=["metrics.accuracy DESC"]
            ),
            "filtered_by_param": lambda: search_runs(
                client, [exp], page_size=50, filter_string="params.model = 'resnet18'"
            ),
            "metric_history": lambda: metric_history(client, ids[123], "accuracy"),
            "compare_5": lambda: compare_runs(client, ids[:5]),
        }
        results = {}
        for name, fn in queries.items():
            seconds = timed(fn)
            results[name] = round(seconds * 1000, 1)
            print(json.dumps({"query": name, "runs": args.runs, "ms": results[name]}), flush=True)
        print(
            json.dumps(
                {
                    "summary": True,
                    "runs": args.runs,
                    "fill_s": round(fill_s, 1),
                    "worst_query_ms": max(results.values()),
                    "ms": results,
                }
            )
        )


if __name__ == "__main__":
    main()
