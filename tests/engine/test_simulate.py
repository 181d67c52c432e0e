"""The scaling simulator: its formulas against Thakur et al., fusion and overlap, the
published points of docs/scaling-simulator/validation.yaml, input errors, calibration."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import yaml

from workbench.engine.simulate import (
    Fusion,
    Model,
    SimulatorInputError,
    check,
    cluster_from_mapping,
    fit,
    model_from_mapping,
    multiring_dims,
    scaling,
    step_time,
    validation_from_mapping,
)
from workbench.engine.simulate.collectives import ALGORITHMS

ROOT = Path(__file__).resolve().parents[2]
VALIDATION = ROOT / "docs" / "scaling-simulator" / "validation.yaml"
RECORDED = Path(__file__).parent / "data" / "allreduce_2ranks.jsonl"
# Points the one input set per cluster misses by more than the tolerance (the docs table
# shows them too): the model over-predicts Inception V3 and ResNet-101 on 25 GbE.
KNOWN_MISSES = {
    ("horovod-25gbe-rdma", "inception3", 512),
    ("horovod-25gbe-rdma", "inception3", 128),
    ("horovod-25gbe-rdma", "resnet101", 16),
    ("horovod-25gbe-tcp", "inception3", 128),
    ("horovod-25gbe-tcp", "resnet101", 16),
}


def cluster(gpus_per_node: int = 8, **extra: object) -> object:
    raw = {
        "name": "test",
        "gpus_per_node": gpus_per_node,
        "intra_node": {"bandwidth_GBps": 20.0, "latency_us": 2.0},
        "inter_node": {"bandwidth_GBps": 5.0, "latency_us": 10.0},
        "reduction_GBps": 100.0,
        **extra,
    }
    return cluster_from_mapping(raw)


@pytest.mark.parametrize("p", [2, 4, 8])
def test_single_node_ring_and_halving_doubling_are_thakurs_formulas(p):
    c = cluster(gpus_per_node=8)
    n, alpha, beta, gamma = 64e6, 2e-6, 1 / 20e9, 1 / 100e9
    ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta + (p - 1) / p * n * gamma
    rabenseifner = 2 * math.log2(p) * alpha + 2 * (p - 1) / p * n * beta + (p - 1) / p * n * gamma
    assert ALGORITHMS["ring"](c, n, p) == pytest.approx(ring)
    assert ALGORITHMS["halving_doubling"](c, n, p) == pytest.approx(rabenseifner)
    assert ALGORITHMS["hierarchical"](c, n, p) == pytest.approx(ring)  # one node: one ring


def test_across_nodes_the_network_sets_the_bandwidth_term():
    c = cluster(gpus_per_node=4)
    n, nodes, p = 1e9, 16, 64
    big, small = ALGORITHMS["hierarchical"](c, n, p), ALGORITHMS["hierarchical"](c, n / 2, p)
    per_byte = (big - small) / (n / 2)  # latencies cancel
    inter = 2 * (nodes - 1) / nodes / 5e9  # 4 shards share one NIC: n/4 each at 5/4 GB/s
    intra = 2 * 3 / 4 / 20e9
    reduce = (3 / 4 + (nodes - 1) / nodes / 4) / 100e9
    assert per_byte == pytest.approx(inter + intra + reduce)
    assert ALGORITHMS["ring"](c, n, p) > ALGORITHMS["ring"](c, n, 4)  # leaving the node costs


def test_latency_grows_with_steps_linear_for_rings_logarithmic_for_trees():
    c = cluster(gpus_per_node=4)
    tiny = 8.0  # bytes: latency only
    ring_256, ring_1024 = (ALGORITHMS["ring"](c, tiny, p) for p in (256, 1024))
    tree_256, tree_1024 = (ALGORITHMS["tree"](c, tiny, p) for p in (256, 1024))
    assert ring_1024 / ring_256 == pytest.approx(1023 / 255, rel=1e-3)
    assert tree_1024 - tree_256 == pytest.approx(2 * 2 * 10e-6, rel=1e-3)  # 2 more levels
    multi = ALGORITHMS["multiring"](c, tiny, 1024)
    assert multi < ALGORITHMS["hierarchical"](c, tiny, 1024) < ring_1024


def test_multiring_dimensions_follow_racks_or_a_square_split():
    assert multiring_dims(cluster(gpus_per_node=4, nodes_per_rack=16), 256) == (4, 16, 4)
    assert multiring_dims(cluster(gpus_per_node=4), 256) == (4, 8, 8)
    assert multiring_dims(cluster(gpus_per_node=4), 2) == (2, 1, 1)


def test_the_last_bucket_cannot_hide_and_overlap_zero_hides_nothing():
    c = cluster(gpus_per_node=4)
    model = Model("m", gradient_bytes=100e6, compute_time=0.3)
    buckets = [25e6] * 4
    durations = [ALGORITHMS["ring"](c, b, 32) for b in buckets]
    hidden = step_time(c, model, Fusion(bucket_bytes=25e6, overlap=1.0), "ring", 32)
    assert hidden.exposed == pytest.approx(durations[-1])  # the others finish in backward
    none = step_time(c, model, Fusion(bucket_bytes=25e6, overlap=0.0), "ring", 32)
    assert none.step == pytest.approx(0.3 + sum(durations))
    assert none.communication == pytest.approx(sum(durations))
    assert step_time(c, model, Fusion(), "ring", 1).efficiency == 1.0


def test_scaling_sweeps_powers_of_two_and_efficiency_falls():
    curves = scaling(cluster(gpus_per_node=4), Model("m", 200e6, 0.2), Fusion(), max_gpus=1024)
    assert set(curves) == set(ALGORITHMS)
    for steps in curves.values():
        assert [s.gpus for s in steps] == [2**k for k in range(11)]
        effs = [s.efficiency for s in steps]
        assert effs[0] == 1.0 and all(a >= b - 1e-12 for a, b in itertools.pairwise(effs))
        assert steps[-1].speedup == pytest.approx(1024 * effs[-1])


def test_published_points_hold_with_one_input_set_per_cluster():
    results = check(validation_from_mapping(yaml.safe_load(VALIDATION.read_text())))
    assert len(results) == 16
    missed = {(r.point.cluster, r.point.model, r.point.gpus) for r in results if not r.holds}
    assert missed == KNOWN_MISSES  # the docs table shows the same misses
    assert max(abs(r.error) for r in results) < 6.0
    ddl = next(r for r in results if r.point.cluster == "ddl-minsky-edr")
    assert ddl.holds and ddl.point.algorithm == "multiring"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.pop("gpus_per_node"), "cluster.gpus_per_node: missing"),
        (lambda raw: raw["inter_node"].update(bandwidth_GBps=-1), "bandwidth_GBps: must be > 0"),
        (lambda raw: raw["intra_node"].pop("latency_us"), "cluster.intra_node.latency_us: missing"),
        (lambda raw: raw["inter_node"].update(efficiency=1.5), "efficiency: must be in [0, 1]"),
        (lambda raw: raw.update(nics=2), "unknown key(s) nics"),
        (lambda raw: raw.update(fusion={"overlap": 2}), "fusion.overlap: must be in [0, 1]"),
    ],
)  # fmt: skip
def test_bad_cluster_input_names_the_key(change, message):
    from workbench.engine.simulate import fusion_from_mapping

    raw = {
        "gpus_per_node": 4,
        "intra_node": {"bandwidth_GBps": 20.0, "latency_us": 2.0},
        "inter_node": {"bandwidth_GBps": 5.0, "latency_us": 10.0},
    }
    change(raw)
    with pytest.raises(SimulatorInputError) as info:
        cluster_from_mapping(raw)
        fusion_from_mapping(raw)
    assert message in str(info.value)


def test_bad_model_and_algorithm_are_named():
    with pytest.raises(SimulatorInputError, match="compute_ms"):
        model_from_mapping({"gradient_MB": 10})
    with pytest.raises(SimulatorInputError, match=r"model\.gradient_MB: missing"):
        model_from_mapping({"compute_ms": 10})
    with pytest.raises(SimulatorInputError, match="unknown algorithm 'butterfly'"):
        scaling(cluster(), Model("m", 1e6, 0.1), Fusion(), ["butterfly"])


def test_calibration_recovers_known_parameters_and_fits_the_recorded_benchmark():
    alpha, beta, gamma, p = 5e-6, 1 / 6e9, 1 / 3e9, 2
    records = []
    for n in (4096, 65536, 1 << 20, 4 << 20):
        link = alpha + n * beta
        ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * n * beta + (p - 1) / p * n * gamma
        records += [
            {"size": n, "impl": "sendrecv", "ranks": p, "time_us": link * 1e6},
            {"size": n, "impl": "ring", "ranks": p, "time_us": ring * 1e6},
            {"size": n, "impl": "mpi_allreduce", "ranks": p, "time_us": 1.0},  # not fitted
        ]
    exact = fit(records)
    assert (exact.alpha, exact.beta, exact.gamma) == pytest.approx((alpha, beta, gamma), rel=1e-6)
    import json

    lines = RECORDED.read_text().splitlines()
    measured = fit(json.loads(line) for line in lines if line.startswith("{"))
    assert measured.ranks == 2 and measured.samples == 8
    assert measured.alpha > 0 and 1 / measured.beta > 1e8  # at least 0.1 GB/s
    mapping = measured.cluster_mapping("here")
    assert cluster_from_mapping(mapping).gpus_per_node == 2
    with pytest.raises(SimulatorInputError, match=r"both 'sendrecv' and 'ring'"):
        fit([r for r in records if r["impl"] == "ring"])
