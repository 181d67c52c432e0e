"""Labeling at 10k images on a real Label Studio: import, predictions, next batch.

Starts a managed Label Studio in a temp WORKBENCH_HOME, writes N small PNGs (sklearn
digits, 10 labeled per class in class folders, the rest flat), then times what a user
waits for; prints one JSON line per step and a summary line with the targets.

    .venv/bin/python benchmarks/labeling.py [--images 10000]

Steps: ``import`` (scan + hash + batched task import, local-files URLs), ``reimport``
(nothing new), ``predictions`` (auto-labeler fit + predictions for every unlabeled task,
uploaded in bulk; the feature cache is cold, so image decoding is included),
``predictions_warm`` (the same with features cached), ``next`` (the next 20 by least
confidence over all tasks, end to end through Label Studio's task list) and
``next_select`` (just the ranking, in memory), and ``predictions_model`` (a registered
small_cnn trained on the hand labels pre-labels every unlabeled task: inference + upload).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

TARGETS_S = {"import": 60.0, "predictions": 60.0, "predictions_model": 60.0, "next": 1.0}


def write_images(root: Path, n: int) -> None:
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = (raw.images * (255 / 16)).astype(np.uint8)
    rng = np.random.default_rng(0)
    seen = dict.fromkeys(range(10), 0)
    for i in range(n):
        k = i % len(images)
        digit = int(raw.target[k])
        # a little noise makes every image distinct (content hashes dedupe repeats)
        pixels = np.clip(images[k].astype(int) + rng.integers(-8, 9, (8, 8)), 0, 255)
        if seen[digit] < 10:
            seen[digit] += 1
            path = root / str(digit) / f"d{i:05d}.png"
            path.parent.mkdir(exist_ok=True)
        else:
            path = root / f"d{i:05d}.png"
        Image.fromarray(pixels.astype(np.uint8)).save(path)


def timed(name: str, fn: Any, **extra: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    print(json.dumps({"step": name, "seconds": round(seconds, 3), **extra}), flush=True)
    return seconds, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wb-label-bench-") as tmp:
        root = Path(tmp).resolve()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        os.environ.update(WORKBENCH_HOME=str(root / "home"), WORKBENCH_LABELSTUDIO_PORT=str(port),
                          WORKBENCH_LABELSTUDIO_FILES_ROOT=str(root))  # fmt: skip
        from workbench.labeling.active import select_batch
        from workbench.labeling.service import LabelingService

        images = root / "images"
        images.mkdir()
        write_images(images, args.images)
        service = LabelingService()
        timed("start", lambda: service.start(progress=False))
        try:
            run_steps(service, images, args.images)
        finally:
            service.stop()
        probs = np.random.default_rng(0).dirichlet(np.ones(10), size=args.images)
        timed("next_select", lambda: select_batch(probs, 20, "least-confidence"),
              tasks=args.images)  # fmt: skip


def register_small_cnn(service: Any) -> None:
    """A small_cnn trained on the 100 hand labels, registered in MLflow as bench-cnn."""
    from workbench.training.run import run
    from workbench.training.spec import parse_spec

    ref = service.export("bench", "bench-labels")["ref"]
    spec = parse_spec({
        "name": "bench-cnn", "model": {"name": "small_cnn", "params": {"width": 32}},
        "data": {"dataset": ref, "grayscale": True}, "train": {"epochs": 3},
        "register_model": "bench-cnn",
    })  # fmt: skip
    run(spec, Path.cwd())


def run_steps(service: Any, images: Path, n: int) -> None:
    results: dict[str, float] = {}
    results["import"], (_, made) = timed(
        "import", lambda: service.create_project("bench", images, progress=False), tasks=n
    )
    assert made.new == n, made
    results["reimport"], again = timed(
        "reimport", lambda: service.import_images("bench", progress=False)
    )
    assert again.new == 0
    results["predictions"], out = timed(
        "predictions", lambda: service.predict("bench", auto=True, progress=False), tasks=n - 100
    )
    assert out["predicted"] == n - 100, out
    results["predictions_warm"], _ = timed(
        "predictions_warm", lambda: service.predict("bench", auto=True, progress=False)
    )
    results["next"], batch = timed("next", lambda: service.next_batch("bench", 20), tasks=n)
    assert len(batch["tasks"]) == 20
    register_small_cnn(service)
    results["predictions_model"], by_model = timed(
        "predictions_model",
        lambda: service.predict("bench", model="bench-cnn", progress=False),
        tasks=n - 100,
    )
    assert by_model["predicted"] == n - 100, by_model
    print(json.dumps({
        "summary": {k: round(v, 2) for k, v in results.items()},
        "targets_s": TARGETS_S,
        "met": {k: results[k] < t for k, t in TARGETS_S.items()},
        "held_out_accuracy": round(out["held_out_accuracy"], 3),
    }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
