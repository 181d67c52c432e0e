"""How the two per-transport constants of the Horovod clusters were chosen.

    PYTHONPATH=. .venv/bin/python docs/scaling-simulator/fit_constants.py

For each cluster named below: every inter-node efficiency 0.30-1.00 (step 0.01) and
latency 1-60 us (step 1) is tried with everything else in validation.yaml fixed; the pair
with the least sum of squared errors over that cluster's points (percentage points of
efficiency, percent of speed-up) is printed. One pair per cluster, used for all its points.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import yaml

from workbench.engine.simulate import check, validation_from_mapping

HERE = Path(__file__).parent
FITTED = ("horovod-25gbe-rdma", "horovod-25gbe-tcp")


def sum_of_squares(raw: dict, cluster: str, efficiency: float, latency_us: float) -> float:
    trial = copy.deepcopy(raw)
    trial["clusters"][cluster]["inter_node"].update(efficiency=efficiency, latency_us=latency_us)
    trial["points"] = [p for p in trial["points"] if p["cluster"] == cluster]
    return sum(c.error**2 for c in check(validation_from_mapping(trial)))


def main() -> None:
    raw = yaml.safe_load((HERE / "validation.yaml").read_text())
    for cluster in FITTED:
        grid = [
            (sum_of_squares(raw, cluster, float(e), float(a)), float(e), float(a))
            for e in np.round(np.arange(0.30, 1.001, 0.01), 2)
            for a in range(1, 61)
        ]
        sse, efficiency, latency = min(grid)
        print(f"{cluster}: efficiency {efficiency:.2f}, latency_us {latency:g} (SSE {sse:.1f})")


if __name__ == "__main__":
    main()
