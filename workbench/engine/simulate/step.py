"""One training step on ``p`` GPUs: compute, gradient buckets, and how much of their
allreduce hides behind backward; and the sweep from 1 to 1024 GPUs.

Gradients appear at an even rate during backward and are cut into buckets of
``fusion.bucket_bytes`` in the order they appear. A bucket that is ready when a fraction
``c`` of backward is done may start its allreduce once ``overlap * (1 - c)`` of backward is
left (``overlap`` 1: at once; 0: after backward), and not before the previous bucket's
allreduce is done (one network, one bucket at a time). The last bucket is ready when
backward ends, so it never hides. The step ends when both compute and the last
allreduce have; on one GPU it is the compute time alone, so

    efficiency(p) = compute / step(p)        speed-up(p) = p * efficiency(p)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workbench.engine.simulate.collectives import ALGORITHMS, algorithm
from workbench.engine.simulate.inputs import Cluster, Fusion, Model, SimulatorInputError


@dataclass(frozen=True)
class StepTime:
    """One step: its time, the allreduce time of all buckets, and what was not hidden."""

    gpus: int
    step: float
    communication: float
    exposed: float
    compute: float

    @property
    def efficiency(self) -> float:
        return self.compute / self.step

    @property
    def speedup(self) -> float:
        return self.gpus * self.efficiency


def bucket_sizes(gradient_bytes: float, bucket_bytes: float) -> npt.NDArray[np.float64]:
    """Full buckets then the remainder, in the order backward produces them."""
    if bucket_bytes <= 0:
        raise SimulatorInputError(f"bucket size must be > 0 bytes, got {bucket_bytes}")
    full = math.floor(gradient_bytes / bucket_bytes)
    sizes = [bucket_bytes] * full
    rest = gradient_bytes - full * bucket_bytes
    if rest > 1e-9 * gradient_bytes or not sizes:
        sizes.append(rest)
    return np.asarray(sizes, dtype=np.float64)


def step_time(
    cluster: Cluster, model: Model, fusion: Fusion, algorithm_name: str, gpus: int
) -> StepTime:
    """Step time of ``model`` on ``gpus`` GPUs with ``algorithm_name`` allreducing buckets."""
    cost = algorithm(algorithm_name)
    compute = model.compute_time
    if gpus == 1:
        return StepTime(1, compute, 0.0, 0.0, compute)
    sizes = bucket_sizes(model.gradient_bytes, fusion.bucket_bytes)
    backward = model.backward_fraction * compute
    forward = compute - backward
    done = np.cumsum(sizes) / model.gradient_bytes  # fraction of backward when ready
    ready = forward + backward * (1.0 - fusion.overlap * (1.0 - done))
    durations = np.array([cost(cluster, float(s), gpus) for s in sizes])
    end = 0.0
    for start, duration in zip(ready, durations, strict=True):
        end = max(end, float(start)) + float(duration)
    step = max(compute, end)
    return StepTime(gpus, step, float(durations.sum()), step - compute, compute)


def gpu_counts(max_gpus: int) -> list[int]:
    """Powers of two from 1 to ``max_gpus`` (inclusive when it is one)."""
    if max_gpus < 1:
        raise SimulatorInputError(f"max GPUs must be >= 1, got {max_gpus}")
    return [2**k for k in range(int(math.log2(max_gpus)) + 1)]


def scaling(
    cluster: Cluster,
    model: Model,
    fusion: Fusion,
    algorithms: list[str] | None = None,
    max_gpus: int = 1024,
) -> dict[str, list[StepTime]]:
    """Step times from 1 to ``max_gpus`` GPUs (powers of two) for each algorithm."""
    names = algorithms or list(ALGORITHMS)
    for name in names:
        algorithm(name)  # unknown names fail before any work
    counts = gpu_counts(max_gpus)
    return {
        name: [step_time(cluster, model, fusion, name, gpus) for gpus in counts] for name in names
    }
