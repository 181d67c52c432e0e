"""``workbench simulate``: the installed command on real YAML files, a PNG, calibration."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.cli import WORKBENCH

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "engine" / "data" / "allreduce_2ranks.jsonl"
CLUSTER = {
    "name": "two-nodes",
    "gpus_per_node": 4,
    "intra_node": {"bandwidth_GBps": 20.0, "latency_us": 2.0},
    "inter_node": {"bandwidth_GBps": 3.125, "latency_us": 10.0, "efficiency": 0.9},
    "fusion": {"bucket_MB": 32, "overlap": 1.0},
}


def workbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [WORKBENCH, "simulate", *args], capture_output=True, text=True, timeout=120
    )


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_prints_json_per_algorithm_and_writes_a_plot(tmp_path):
    cluster = write(tmp_path / "cluster.yaml", CLUSTER)
    model = write(tmp_path / "model.yaml", {"name": "vgg", "gradient_MB": 553.4, "compute_ms": 489})
    plot = tmp_path / "out.png"
    proc = workbench(
        "run", str(cluster), str(model), "--max-gpus", "64", "--plot", str(plot), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["fusion"]["bucket_bytes"] == 32e6
    ring = payload["algorithms"]["ring"]
    assert [row["gpus"] for row in ring] == [1, 2, 4, 8, 16, 32, 64]
    assert ring[0]["efficiency"] == 1.0 > ring[-1]["efficiency"] > 0.3
    assert set(payload["algorithms"]) == {
        "ring",
        "hierarchical",
        "multiring",
        "halving_doubling",
        "tree",
    }
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = workbench("run", str(cluster), str(model), "--max-gpus", "8", "-a", "tree")
    assert table.returncode == 0 and "tree" in table.stdout and "ring" not in table.stdout


def test_a_zoo_model_weighs_its_real_parameters(tmp_path):
    import torch  # noqa: F401  (the zoo builds torch models)

    from workbench.training.models import build_model

    cluster = write(tmp_path / "cluster.yaml", CLUSTER)
    model = write(tmp_path / "model.yaml", {"zoo": "small_cnn", "compute_ms": 10})
    proc = workbench("run", str(cluster), str(model), "--max-gpus", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    params = sum(p.numel() for p in build_model("small_cnn").parameters())
    assert json.loads(proc.stdout)["model"]["gradient_bytes"] == 4 * params
    bad = write(tmp_path / "bad.yaml", {"zoo": "resnet9000", "compute_ms": 10})
    proc = workbench("run", str(cluster), str(bad))
    assert proc.returncode == 2 and "unknown model 'resnet9000'" in proc.stderr


def test_bad_input_exits_2_naming_what_is_wrong(tmp_path):
    model = write(tmp_path / "model.yaml", {"gradient_MB": 100, "compute_ms": 100})
    broken = {**CLUSTER, "inter_node": {"bandwidth_GBps": -3, "latency_us": 1}}
    proc = workbench("run", str(write(tmp_path / "c.yaml", broken)), str(model))
    assert proc.returncode == 2
    assert "cluster.inter_node.bandwidth_GBps: must be > 0, got -3" in proc.stderr
    missing = {k: v for k, v in CLUSTER.items() if k != "intra_node"}
    proc = workbench("run", str(write(tmp_path / "m.yaml", missing)), str(model))
    assert proc.returncode == 2 and "cluster.intra_node: missing" in proc.stderr
    good = write(tmp_path / "good.yaml", CLUSTER)
    proc = workbench("run", str(good), str(model), "-a", "butterfly")
    assert proc.returncode == 2 and "unknown algorithm 'butterfly'" in proc.stderr


def test_validate_reports_every_published_point():
    proc = workbench(
        "validate", str(ROOT / "docs" / "scaling-simulator" / "validation.yaml"), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 16 and sum(r["holds"] for r in rows) == 11


def test_calibrate_from_a_recorded_benchmark_writes_a_usable_cluster(tmp_path):
    out = tmp_path / "here.yaml"
    proc = workbench("calibrate", "--from", str(RECORDED), "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    written = yaml.safe_load(out.read_text())
    assert written == summary["cluster"] and written["gpus_per_node"] == 2
    assert written["intra_node"]["bandwidth_GBps"] > 0.1
    model = write(tmp_path / "model.yaml", {"gradient_MB": 10, "compute_ms": 50})
    assert workbench("run", str(out), str(model), "--max-gpus", "4").returncode == 0
    empty = write(tmp_path / "empty.jsonl", {"not": "records"})
    proc = workbench("calibrate", "--from", str(empty), "-o", str(tmp_path / "x.yaml"))
    assert proc.returncode == 2 and "sendrecv" in proc.stderr
