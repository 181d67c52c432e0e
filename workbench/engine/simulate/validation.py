"""Published scaling points against the simulator: one input set per cluster, every point.

A validation mapping (what ``docs/scaling-simulator/validation.yaml`` holds)::

    clusters: {NAME: <cluster mapping, with fusion:>}
    models:   {NAME: <model mapping>}
    points:
      - {cluster: NAME, model: NAME, algorithm: ring, gpus: 128, efficiency: 0.92,
         source: "..."}
      - {..., gpus: 16, speedup: 15.0}

A point holds when the simulated efficiency is within ``EFFICIENCY_POINTS`` percentage
points of a published efficiency, or the simulated speed-up within ``SPEEDUP_PERCENT``
percent of a published speed-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.engine.simulate.inputs import (
    Cluster,
    Fusion,
    MappingReader,
    Model,
    SimulatorInputError,
    cluster_from_mapping,
    fusion_from_mapping,
    model_from_mapping,
)
from workbench.engine.simulate.step import step_time

EFFICIENCY_POINTS = 3.0
SPEEDUP_PERCENT = 3.0


@dataclass(frozen=True)
class Point:
    cluster: str
    model: str
    algorithm: str
    gpus: int
    published: float
    measure: str  # "efficiency" (a fraction) or "speedup" (times)
    source: str


@dataclass(frozen=True)
class Checked:
    point: Point
    simulated: float

    @property
    def error(self) -> float:
        """Percentage points (efficiency) or percent of the published speed-up."""
        if self.point.measure == "efficiency":
            return (self.simulated - self.point.published) * 100.0
        return (self.simulated / self.point.published - 1.0) * 100.0

    @property
    def holds(self) -> bool:
        limit = EFFICIENCY_POINTS if self.point.measure == "efficiency" else SPEEDUP_PERCENT
        return abs(self.error) <= limit


@dataclass(frozen=True)
class Validation:
    clusters: dict[str, tuple[Cluster, Fusion]]
    models: dict[str, Model]
    points: list[Point]


def _point(data: Any, where: str, clusters: set[str], models: set[str]) -> Point:
    reader = MappingReader(data, where)
    reader.reject_unknown(
        {"cluster", "model", "algorithm", "gpus", "efficiency", "speedup", "source"}
    )
    for key, known in (("cluster", clusters), ("model", models)):
        if reader.text(key, "") not in known:
            raise SimulatorInputError(f"{reader.where(key)}: not one of {', '.join(sorted(known))}")
    measures = [m for m in ("efficiency", "speedup") if reader.has(m)]
    if len(measures) != 1:
        raise SimulatorInputError(f"{where}: give exactly one of efficiency or speedup")
    return Point(
        cluster=reader.text("cluster", ""),
        model=reader.text("model", ""),
        algorithm=reader.text("algorithm", "ring"),
        gpus=reader.count("gpus"),
        published=reader.number(measures[0]),
        measure=measures[0],
        source=reader.text("source", "-"),
    )


def validation_from_mapping(data: Any) -> Validation:
    reader = MappingReader(data, "validation")
    reader.reject_unknown({"clusters", "models", "points"})
    clusters_in, models_in = reader.sub("clusters"), reader.sub("models")
    clusters = {
        str(name): (
            cluster_from_mapping(raw, f"clusters.{name}"),
            fusion_from_mapping(raw, f"clusters.{name}"),
        )
        for name, raw in clusters_in.data.items()
    }
    models = {
        str(name): model_from_mapping(raw, f"models.{name}") for name, raw in models_in.data.items()
    }
    raw_points = reader.data.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise SimulatorInputError("validation.points: must be a non-empty list")
    points = [
        _point(raw, f"validation.points[{i}]", set(clusters), set(models))
        for i, raw in enumerate(raw_points)
    ]
    return Validation(clusters, models, points)


def check(validation: Validation) -> list[Checked]:
    """Every point simulated with its cluster's one input set."""
    results = []
    for point in validation.points:
        cluster, fusion = validation.clusters[point.cluster]
        step = step_time(
            cluster, validation.models[point.model], fusion, point.algorithm, point.gpus
        )
        simulated = step.efficiency if point.measure == "efficiency" else step.speedup
        results.append(Checked(point, simulated))
    return results
