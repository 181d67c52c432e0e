"""Alpha-beta-gamma cost of one allreduce of ``n`` bytes on ``p`` GPUs of a cluster.

The formulas are those of Thakur, Rabenseifner and Gropp, "Optimization of Collective
Communication Operations in MPICH" (IJHPCA 19(1), 2005): a message of ``m`` bytes costs
``alpha + m * beta`` (:meth:`Link.time`), reducing ``m`` bytes costs ``m * gamma``. What
this module adds is where each step's bytes travel:

- ``ring``: one flat ring over all GPUs (node by node): ``2 (p-1)`` steps of ``n / p``;
  every step waits for its slowest hop (the NIC once the ring leaves a node) and a node
  with ``k`` NICs runs ``k`` rings on ``n / k`` bytes each (NCCL's rings).
- ``hierarchical``: reduce-scatter inside each node, a ring allreduce of each GPU's
  ``n / g`` shard across nodes (the node's ``g`` shards share its NICs), allgather inside.
- ``multiring``: PowerAI DDL's X x Y x Z: reduce-scatter along GPUs in a node (X), nodes
  in a rack (Y), racks (Z), then allgather back; each dimension works on what the one
  before left (``n``, ``n / X``, ``n / XY``). Without ``nodes_per_rack`` the nodes are
  split into the most nearly square Y x Z.
- ``halving_doubling``: Rabenseifner's recursive-halving reduce-scatter + recursive-doubling
  allgather, partners at distance 1, 2, 4, ... (inside a node first, so the large early
  exchanges use the fast links); non-powers of two pay Thakur's extra reduce + send.
- ``tree``: a pipelined double binary tree across nodes with a chain inside each node
  (NCCL's tree): ``2 (g - 1 + ceil(log2 N))`` latencies, each node's NICs and each GPU's
  link carry ``n`` per direction in the reduce and again in the broadcast.

When ``c`` GPUs of a node cross the network at once they share its NICs: each gets
``bandwidth * min(1, nics / c)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from workbench.engine.simulate.inputs import Cluster, Link, SimulatorInputError


@dataclass(frozen=True)
class Placement:
    """``gpus`` GPUs as ``nodes`` nodes of ``per_node`` GPUs, ``per_rack`` nodes a rack."""

    gpus: int
    per_node: int
    nodes: int
    per_rack: int

    @property
    def racks(self) -> int:
        return math.ceil(self.nodes / self.per_rack)


def place(cluster: Cluster, gpus: int) -> Placement:
    """Fill nodes first: ``gpus`` <= a node stays on one node."""
    if gpus < 1:
        raise SimulatorInputError(f"GPU count must be >= 1, got {gpus}")
    per_node = min(gpus, cluster.gpus_per_node)
    nodes = math.ceil(gpus / per_node)
    per_rack = min(nodes, cluster.nodes_per_rack or nodes)
    return Placement(gpus, per_node, nodes, per_rack)


def shared(link: Link, streams: int, nics: int) -> Link:
    """``link`` as each of ``streams`` concurrent senders of one node sees it."""
    return Link(link.bandwidth * min(1.0, nics / max(streams, 1)), link.latency)


def worst(a: Link, b: Link) -> Link:
    """A path over both: the lower bandwidth and the higher latency."""
    return Link(min(a.bandwidth, b.bandwidth), max(a.latency, b.latency))


def network(cluster: Cluster, where: Placement) -> Link:
    """The slowest link between two nodes of this placement."""
    return worst(cluster.inter, cluster.rack_link) if where.racks > 1 else cluster.inter


def reduce_scatter(members: int, nbytes: float, link: Link, gamma: float) -> float:
    """Ring reduce-scatter of ``nbytes`` over ``members``: ``m - 1`` steps of ``n / m``."""
    if members <= 1:
        return 0.0
    steps = members - 1
    return steps * link.time(nbytes / members) + steps / members * nbytes * gamma


def allgather(members: int, nbytes: float, link: Link) -> float:
    """Ring allgather that ends with ``nbytes`` on each of ``members``."""
    if members <= 1:
        return 0.0
    return (members - 1) * link.time(nbytes / members)


def ring(cluster: Cluster, nbytes: float, gpus: int) -> float:
    where = place(cluster, gpus)
    p, gamma = where.gpus, cluster.gamma
    if p == 1:
        return 0.0
    if where.nodes == 1:
        return reduce_scatter(p, nbytes, cluster.intra, gamma) + allgather(p, nbytes, cluster.intra)
    net = network(cluster, where)
    rings = cluster.nics_per_node
    per_step = max(nbytes / rings / p / net.bandwidth, nbytes / p / cluster.intra.bandwidth)
    step = max(net.latency, cluster.intra.latency) + per_step
    return 2 * (p - 1) * step + (p - 1) / p * nbytes * gamma


def hierarchical(cluster: Cluster, nbytes: float, gpus: int) -> float:
    where = place(cluster, gpus)
    g, gamma = where.per_node, cluster.gamma
    shard = nbytes / g
    across = shared(network(cluster, where), g, cluster.nics_per_node)
    inside = reduce_scatter(g, nbytes, cluster.intra, gamma) + allgather(g, nbytes, cluster.intra)
    nodes = where.nodes
    between = reduce_scatter(nodes, shard, across, gamma) + allgather(nodes, shard, across)
    return inside + between


def _square_split(nodes: int) -> tuple[int, int]:
    """``nodes = y * z`` with ``y`` the smallest divisor whose square is >= ``nodes``."""
    y = next(d for d in range(1, nodes + 1) if nodes % d == 0 and d * d >= nodes)
    return y, nodes // y


def multiring_dims(cluster: Cluster, gpus: int) -> tuple[int, int, int]:
    """DDL's X x Y x Z for ``gpus``: GPUs per node, nodes per rack, racks."""
    where = place(cluster, gpus)
    if cluster.nodes_per_rack is not None:
        return where.per_node, where.per_rack, where.racks
    y, z = _square_split(where.nodes)
    return where.per_node, y, z


def multiring(cluster: Cluster, nbytes: float, gpus: int) -> float:
    x, y, z = multiring_dims(cluster, gpus)
    gamma, nics = cluster.gamma, cluster.nics_per_node
    rack_link = cluster.rack_link if cluster.nodes_per_rack is not None else cluster.inter
    dims = [
        (x, nbytes, cluster.intra),
        (y, nbytes / x, shared(cluster.inter, x, nics)),
        (z, nbytes / (x * y), shared(rack_link, x, nics)),
    ]
    return sum(
        reduce_scatter(m, size, link, gamma) + allgather(m, size, link) for m, size, link in dims
    )


def _partner_link(cluster: Cluster, where: Placement, distance: int) -> Link:
    if distance < where.per_node:
        return cluster.intra
    streams, nics = where.per_node, cluster.nics_per_node
    if distance < where.per_node * where.per_rack:
        return shared(cluster.inter, streams, nics)
    return shared(worst(cluster.inter, cluster.rack_link), streams, nics)


def halving_doubling(cluster: Cluster, nbytes: float, gpus: int) -> float:
    where = place(cluster, gpus)
    if where.gpus == 1:
        return 0.0
    steps = int(math.log2(where.gpus))
    power = 2**steps
    total = 0.0
    for k in range(1, steps + 1):
        link = _partner_link(cluster, where, 2 ** (k - 1))
        size = nbytes / 2**k
        total += 2 * link.time(size) + size * cluster.gamma
    if power != where.gpus:  # the extra ranks hand their data in first and get it back last
        far = _partner_link(cluster, where, where.gpus - 1)
        total += 2 * far.time(nbytes) + nbytes * cluster.gamma
    return total


def tree(cluster: Cluster, nbytes: float, gpus: int) -> float:
    where = place(cluster, gpus)
    if where.gpus == 1:
        return 0.0
    intra, hops = cluster.intra, where.per_node - 1
    latency = hops * intra.latency
    per_byte = 1.0 / intra.bandwidth
    if where.nodes > 1:
        net = network(cluster, where)
        latency += math.ceil(math.log2(where.nodes)) * net.latency
        per_byte = max(per_byte, 1.0 / (net.bandwidth * cluster.nics_per_node))
    return 2 * (latency + nbytes * per_byte) + nbytes * cluster.gamma


Algorithm = Callable[[Cluster, float, int], float]
ALGORITHMS: dict[str, Algorithm] = {
    "ring": ring,
    "hierarchical": hierarchical,
    "multiring": multiring,
    "halving_doubling": halving_doubling,
    "tree": tree,
}


def algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        known = ", ".join(ALGORITHMS)
        raise SimulatorInputError(f"unknown algorithm {name!r}; known: {known}") from None


def bus_bandwidth(nbytes: float, gpus: int, seconds: float) -> float:
    """nccl-tests' busbw of an allreduce: ``algbw * 2 (p - 1) / p`` (bytes/s)."""
    return nbytes / seconds * 2.0 * (gpus - 1) / gpus
