"""Scaling simulator: predicted step time and scaling efficiency of data-parallel training.

An alpha-beta-gamma cost model (Thakur, Rabenseifner and Gropp 2005) of ring,
hierarchical, multi-dimensional ring (PowerAI DDL), halving-doubling and tree allreduce
on a cluster of nodes and racks, tensor-fusion buckets overlapped with backward, and a
fit of this machine's link from the allreduce benchmark. Pure numpy: the caller reads
files (``workbench simulate`` parses YAML and resolves zoo names).

    from workbench.engine.simulate import cluster_from_mapping, model_from_mapping, scaling
    curves = scaling(cluster_from_mapping(c), model_from_mapping(m), Fusion())
"""

from workbench.engine.simulate.calibrate import Calibration, fit
from workbench.engine.simulate.collectives import ALGORITHMS, bus_bandwidth, multiring_dims
from workbench.engine.simulate.inputs import (
    Cluster,
    Fusion,
    Link,
    Model,
    SimulatorInputError,
    cluster_from_mapping,
    fusion_from_mapping,
    model_from_mapping,
)
from workbench.engine.simulate.step import StepTime, bucket_sizes, gpu_counts, scaling, step_time
from workbench.engine.simulate.validation import (
    Checked,
    Point,
    Validation,
    check,
    validation_from_mapping,
)

__all__ = [
    "ALGORITHMS",
    "Calibration",
    "Checked",
    "Cluster",
    "Fusion",
    "Link",
    "Model",
    "Point",
    "SimulatorInputError",
    "StepTime",
    "Validation",
    "bucket_sizes",
    "bus_bandwidth",
    "check",
    "cluster_from_mapping",
    "fit",
    "fusion_from_mapping",
    "gpu_counts",
    "model_from_mapping",
    "multiring_dims",
    "scaling",
    "step_time",
    "validation_from_mapping",
]
