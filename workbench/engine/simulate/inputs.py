"""What the simulator reads: links, a cluster, a model, and how gradients are fused.

Built from plain mappings (what a YAML file holds) by :func:`cluster_from_mapping` and
:func:`model_from_mapping`; every missing key, wrong type or out-of-range value raises
:class:`SimulatorInputError` naming the key (``cluster.inter_node.bandwidth_GBps``).

Units in mappings: bandwidths in GB/s (1e9 bytes per second, per direction; 25 GbE is
3.125), latencies in microseconds, sizes in MB (1e6 bytes), compute in milliseconds.
Inside the simulator everything is SI: bytes, seconds, bytes per second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workbench.errors import InvalidInput

GB = 1e9
MB = 1e6
US = 1e-6
MS = 1e-3
DEFAULT_BACKWARD_FRACTION = 2.0 / 3.0  # backward costs about twice forward


class SimulatorInputError(InvalidInput, ValueError):
    """A cluster, model or option the simulator cannot use; the message names the key."""


@dataclass(frozen=True)
class Link:
    """One kind of link: ``bandwidth`` bytes/s per direction (already times its
    efficiency) and ``latency`` seconds per message (alpha)."""

    bandwidth: float
    latency: float

    def time(self, nbytes: float) -> float:
        """Alpha-beta time of one message of ``nbytes`` on this link."""
        return self.latency + nbytes / self.bandwidth


@dataclass(frozen=True)
class Cluster:
    """GPUs in nodes (and optionally nodes in racks) joined by three kinds of link.

    ``intra``: between GPUs of a node (per GPU); ``inter``: one NIC between nodes;
    ``inter_rack``: one NIC's path between racks (``inter`` when not given);
    ``gamma``: seconds to reduce one byte (0: reduction is free).
    """

    name: str
    gpus_per_node: int
    intra: Link
    inter: Link
    nics_per_node: int = 1
    nodes_per_rack: int | None = None
    inter_rack: Link | None = None
    gamma: float = 0.0

    @property
    def rack_link(self) -> Link:
        return self.inter_rack or self.inter


@dataclass(frozen=True)
class Fusion:
    """How gradients travel: ``bucket_bytes`` per fused allreduce and ``overlap``, the
    fraction of the backward pass left after a bucket is ready that its allreduce may
    hide behind (1: all of it, 0: none: every bucket waits for backward to end)."""

    bucket_bytes: float = 64 * 2**20
    overlap: float = 1.0


@dataclass(frozen=True)
class Model:
    """A model as the simulator sees it: gradient bytes per step and one GPU's compute
    time per step (forward + backward), of which ``backward_fraction`` is backward."""

    name: str
    gradient_bytes: float
    compute_time: float
    backward_fraction: float = DEFAULT_BACKWARD_FRACTION


class MappingReader:
    """Typed look-ups in one mapping; errors name the key's full path."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, Mapping):
            raise SimulatorInputError(f"{path}: must be a mapping of keys, got {data!r}")
        self.data, self.path = data, path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def number(self, key: str, default: float | None = None, *, zero_ok: bool = False) -> float:
        """A number > 0 (>= 0 with ``zero_ok``)."""
        value = self.data.get(key, default)
        if value is None:
            raise SimulatorInputError(f"{self.where(key)}: missing (a number)")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SimulatorInputError(f"{self.where(key)}: must be a number, got {value!r}")
        if value < 0 or (value == 0 and not zero_ok) or value != value:
            rule = ">= 0" if zero_ok else "> 0"
            raise SimulatorInputError(f"{self.where(key)}: must be {rule}, got {value!r}")
        return float(value)

    def ratio(self, key: str, default: float) -> float:
        """A number in [0, 1]."""
        value = self.number(key, default, zero_ok=True)
        if value > 1.0:
            raise SimulatorInputError(f"{self.where(key)}: must be in [0, 1], got {value!r}")
        return value

    def count(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if value is None:
            raise SimulatorInputError(f"{self.where(key)}: missing (a whole number >= 1)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SimulatorInputError(
                f"{self.where(key)}: must be a whole number >= 1, got {value!r}"
            )
        return value

    def sub(self, key: str) -> MappingReader:
        if key not in self.data:
            raise SimulatorInputError(f"{self.where(key)}: missing (a mapping)")
        return MappingReader(self.data[key], self.where(key))

    def text(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value:
            raise SimulatorInputError(f"{self.where(key)}: must be a non-empty string")
        return value

    def reject_unknown(self, known: set[str]) -> None:
        unknown = sorted(str(k) for k in self.data if k not in known)
        if unknown:
            names, allowed = ", ".join(unknown), ", ".join(sorted(known))
            raise SimulatorInputError(f"{self.path}: unknown key(s) {names}; known: {allowed}")


_LINK_KEYS = {"bandwidth_GBps", "latency_us", "efficiency", "source"}
_CLUSTER_KEYS = {
    "name", "gpus_per_node", "nics_per_node", "nodes_per_rack", "intra_node", "inter_node",
    "inter_rack", "reduction_GBps", "fusion", "source",
}  # fmt: skip
_FUSION_KEYS = {"bucket_MB", "overlap", "source"}
_MODEL_KEYS = {
    "name", "gradient_MB", "compute_ms", "images_per_s", "batch", "backward_fraction",
    "zoo", "zoo_params", "gradient_dtype_bytes", "source",
}  # fmt: skip


def _link(reader: MappingReader) -> Link:
    reader.reject_unknown(_LINK_KEYS)
    bandwidth = reader.number("bandwidth_GBps") * GB
    efficiency = reader.ratio("efficiency", 1.0)
    if efficiency == 0.0:
        raise SimulatorInputError(f"{reader.where('efficiency')}: must be > 0")
    latency = reader.number("latency_us", zero_ok=True) * US
    return Link(bandwidth=bandwidth * efficiency, latency=latency)


def cluster_from_mapping(data: Any, path: str = "cluster") -> Cluster:
    """A :class:`Cluster` from the mapping a cluster YAML holds (see the module docs)."""
    reader = MappingReader(data, path)
    reader.reject_unknown(_CLUSTER_KEYS)
    gamma = 0.0
    if reader.has("reduction_GBps"):
        gamma = 1.0 / (reader.number("reduction_GBps") * GB)
    return Cluster(
        name=reader.text("name", "cluster"),
        gpus_per_node=reader.count("gpus_per_node"),
        nics_per_node=reader.count("nics_per_node", 1),
        nodes_per_rack=reader.count("nodes_per_rack") if reader.has("nodes_per_rack") else None,
        intra=_link(reader.sub("intra_node")),
        inter=_link(reader.sub("inter_node")),
        inter_rack=_link(reader.sub("inter_rack")) if reader.has("inter_rack") else None,
        gamma=gamma,
    )


def fusion_from_mapping(data: Any, path: str = "cluster") -> Fusion:
    """The ``fusion:`` section of a cluster mapping (defaults: 64 MiB buckets, overlap 1)."""
    reader = MappingReader(data, path)
    if not reader.has("fusion"):
        return Fusion()
    fusion = reader.sub("fusion")
    fusion.reject_unknown(_FUSION_KEYS)
    default = Fusion()
    return Fusion(
        bucket_bytes=fusion.number("bucket_MB", default.bucket_bytes / MB) * MB,
        overlap=fusion.ratio("overlap", default.overlap),
    )


def model_from_mapping(
    data: Any, path: str = "model", *, gradient_bytes: float | None = None
) -> Model:
    """A :class:`Model` from a model mapping: ``gradient_MB`` (or ``gradient_bytes`` from
    the caller, who resolved a ``zoo:`` name) and ``compute_ms`` or ``images_per_s`` +
    ``batch``."""
    reader = MappingReader(data, path)
    reader.reject_unknown(_MODEL_KEYS)
    if gradient_bytes is None:
        if reader.has("zoo"):
            raise SimulatorInputError(f"{reader.where('zoo')}: resolve zoo names before the engine")
        gradient_bytes = reader.number("gradient_MB") * MB
    if reader.has("compute_ms"):
        compute = reader.number("compute_ms") * MS
    elif reader.has("images_per_s"):
        compute = reader.count("batch") / reader.number("images_per_s")
    else:
        raise SimulatorInputError(
            f"{path}: missing compute_ms (one GPU's step) or images_per_s with batch"
        )
    fraction = reader.ratio("backward_fraction", DEFAULT_BACKWARD_FRACTION)
    return Model(reader.text("name", "model"), gradient_bytes, compute, fraction)
