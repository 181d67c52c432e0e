"""Fit alpha, beta and gamma of this machine from ``benchmarks/allreduce.py`` records.

The benchmark prints one JSON record per (size, impl) with the median ``time_us`` over
its ranks. Two of its impls pin the three unknowns down:

- ``sendrecv`` (each rank sends ``n`` bytes and receives ``n``): ``t = alpha + n beta``;
- ``ring`` (the engine's flat ring on ``p`` ranks):
  ``t = 2 (p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma``.

The ring alone cannot tell beta from gamma (their coefficients keep a ratio of 2 at any
``p``); the link alone has no gamma. Least squares over all records, each row divided by
its measured time (so a 1 KiB call counts as much as a 256 MiB one), with every
coefficient kept >= 0. Run the ring at every size (``WORKBENCH_SMALL_ALLREDUCE_BYTES=0``)
or small sizes measure MPI's own allreduce instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from workbench.engine.simulate.inputs import GB, US, SimulatorInputError

FITTED_IMPLS = ("sendrecv", "ring")


@dataclass(frozen=True)
class Calibration:
    """Fitted ``alpha`` (s), ``beta`` (s/byte), ``gamma`` (s/byte) on ``ranks`` ranks."""

    alpha: float
    beta: float
    gamma: float
    ranks: int
    samples: int
    rms_relative_error: float

    def cluster_mapping(self, name: str) -> dict[str, Any]:
        """A cluster mapping of one node of ``ranks`` GPUs with the fitted link; the
        inter-node link is the same numbers (nothing here measured a second node)."""
        link = {
            "bandwidth_GBps": round(1.0 / self.beta / GB, 4),
            "latency_us": round(self.alpha / US, 2),
        }
        mapping: dict[str, Any] = {
            "name": name,
            "gpus_per_node": self.ranks,
            "intra_node": dict(link),
            "inter_node": dict(link),
        }
        if self.gamma > 0:
            mapping["reduction_GBps"] = round(1.0 / self.gamma / GB, 4)
        return mapping


def _rows(records: Iterable[Mapping[str, Any]]) -> tuple[npt.NDArray[np.float64], list[float], int]:
    rows: list[list[float]] = []
    times: list[float] = []
    ranks: set[int] = set()
    for record in records:
        impl = record.get("impl")
        if impl not in FITTED_IMPLS or "size" not in record or "time_us" not in record:
            continue
        n, p, t = float(record["size"]), int(record["ranks"]), float(record["time_us"]) * US
        ranks.add(p)
        if impl == "sendrecv":
            rows.append([1.0, n, 0.0])
        else:
            rows.append([2.0 * (p - 1), 2.0 * (p - 1) / p * n, (p - 1) / p * n])
        times.append(t)
    if len({r[2] == 0.0 for r in rows}) < 2 or len(rows) < 3:
        raise SimulatorInputError(
            "calibration needs allreduce benchmark records of both 'sendrecv' and 'ring' "
            f"(with size, ranks and time_us); found {len(rows)} usable record(s)"
        )
    if len(ranks) != 1:
        raise SimulatorInputError(f"calibration records mix rank counts {sorted(ranks)}")
    return np.asarray(rows), times, ranks.pop()


def _nonnegative_lstsq(
    a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Least squares with every coefficient >= 0 (three unknowns: try each active set)."""
    best: tuple[float, npt.NDArray[np.float64]] | None = None
    columns = range(a.shape[1])
    for k in range(a.shape[1], 0, -1):
        for keep in itertools.combinations(columns, k):
            sub, *_ = np.linalg.lstsq(a[:, keep], b, rcond=None)
            if (sub < 0).any():
                continue
            x = np.zeros(a.shape[1])
            x[list(keep)] = sub
            residual = float(np.sum((a @ x - b) ** 2))
            if best is None or residual < best[0]:
                best = (residual, x)
    if best is None:
        raise SimulatorInputError("calibration found no non-negative fit of alpha, beta, gamma")
    return best[1]


def fit(records: Iterable[Mapping[str, Any]]) -> Calibration:
    """Alpha, beta, gamma from benchmark records (see the module docs)."""
    rows, times, ranks = _rows(records)
    t = np.asarray(times)
    weighted = rows / t[:, None]
    alpha, beta, gamma = _nonnegative_lstsq(weighted, np.ones_like(t))
    if beta <= 0:
        raise SimulatorInputError("calibration found no bandwidth term: add larger sizes")
    predicted = rows @ np.array([alpha, beta, gamma])
    rms = float(np.sqrt(np.mean((predicted / t - 1.0) ** 2)))
    return Calibration(float(alpha), float(beta), float(gamma), ranks, len(t), rms)
