"""JobSpec validation: each broken rule is named with its field; nothing is stored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import spec_for
from workbench.errors import InvalidInput
from workbench.jobs.service import JobService
from workbench.jobs.spec import InvalidSpec, JobSpec, parse_spec

KUBE = {"backend": "kubernetes", "kubernetes": {"image": "ghcr.io/example/worker:1.0"}}

# (id, change to a valid spec, text the message must contain: the field and the rule)
MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("ranks-zero", {"ranks": 0}, "ranks: Input should be greater than or equal to 1"),
    ("ranks-negative", {"ranks": -3}, "ranks: Input should be greater than or equal to 1"),
    ("ranks-huge", {"ranks": 10**12}, "ranks: Input should be less than or equal to 1024"),
    ("ranks-string", {"ranks": "2"}, "ranks: Input should be a valid integer"),
    ("ranks-bool", {"ranks": True}, "ranks: Input should be a valid integer"),
    ("timeout-negative", {"timeout_s": -5}, "timeout_s: Input should be greater than 0"),
    ("timeout-huge", {"timeout_s": 1e12}, "timeout_s: Input should be less than or equal to"),
    ("timeout-nan", {"timeout_s": float("nan")}, "timeout_s: Input should be a finite number"),
    ("backend-unknown", {"backend": "mesos"}, "backend: must be one of kubernetes, local, slurm"),
    (
        "path-escapes",
        {"entry": {"kind": "script", "path": "sub/../../outside.py"}},
        "entry.path: must stay inside working_dir",
    ),
    (
        "path-absolute",
        {"entry": {"kind": "script", "path": "/etc/passwd"}},
        "entry.path: must be a relative path inside working_dir",
    ),
    ("env-nul", {"env": {"TOKEN": "ab\x00cd"}}, "env.TOKEN: must not contain NUL characters"),
    ("env-bad-key", {"env": {"BAD-KEY": "1"}}, "env: key 'BAD-KEY': String should match pattern"),
    ("env-reserved", {"env": {"OMPI_MCA_btl": "self"}}, "env: OMPI_MCA_btl is set by the launcher"),
    ("name-invalid", {"name": "Bad Name!"}, "name: String should match pattern"),
    ("name-too-long", {"name": "a" * 40}, "name: String should match pattern"),
    ("entry-kind", {"entry": {"kind": "binary", "path": "x"}}, "entry.kind: Input tag 'binary'"),
    ("entry-no-kind", {"entry": {"path": "allreduce.py"}}, "entry.kind: Field required"),
    ("typo-field", {"rank": 2}, "rank: Extra inputs are not permitted"),
    ("ranks-per-node", {"ranks": 4, "ranks_per_node": 3}, "ranks_per_node: must divide ranks"),
    ("retries-huge", {"retries": 11}, "retries: Input should be less than or equal to 10"),
    ("memory-unit", {"resources": {"memory": "lots"}}, "resources.memory: String should match"),
    ("memory-huge", {"resources": {"memory": "9000000Gi"}}, "resources.memory: must be at most"),
    ("gpus-negative", {"resources": {"gpus": -1}}, "resources.gpus: Input should be greater"),
    ("workdir-relative", {"working_dir": "relative/dir"}, "working_dir: must be an absolute path"),
    ("checkpoint-escapes", {"checkpoint_dir": "a/../../ckpt"}, "checkpoint_dir: must stay inside"),
    ("kube-no-image", {"backend": "kubernetes"}, "kubernetes: required when backend is"),
    ("slurm-on-local", {"slurm": {"partition": "gpu"}}, "slurm: only allowed when backend is"),
    (
        "arg-nul",
        {"entry": {"kind": "script", "path": "allreduce.py", "args": ["a\x00"]}},
        "entry.args.0: must not contain NUL",
    ),
    ("experiment-newline", {"mlflow_experiment": "a\nb"}, "mlflow_experiment: must not contain"),
    (
        "module-injection",
        {"entry": {"kind": "module", "module": "os; rm -rf /"}},
        "entry.module: String should match pattern",
    ),
    ("kube-bad-image", {**KUBE, "kubernetes": {"image": "Bad Image"}}, "kubernetes.image: String"),
    (
        "kube-training",
        {**KUBE, "entry": {"kind": "training", "spec": {"model": "cnn"}}},
        "entry.kind: 'training' entries need a shared spec file",
    ),
]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_malformed_spec_is_rejected_and_nothing_is_stored(
    service: JobService, workdir: Path, change: dict[str, Any], expected: str
) -> None:
    with pytest.raises(InvalidSpec) as info:
        service.submit({**spec_for(workdir, "allreduce.py"), **change})
    assert expected in str(info.value)
    assert any(expected in p for p in info.value.problems)
    assert service.store.count() == 0
    assert not (service.jobs_root.exists() and any(service.jobs_root.iterdir()))


def test_checks_that_need_the_machine_reject_before_storing(
    service: JobService, workdir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.py").write_text("print('outside')\n")
    os.symlink(tmp_path / "secret.py", workdir / "link.py")
    cases = [
        (spec_for(workdir, "missing.py"), "entry.path: no file missing.py in working_dir"),
        (spec_for(workdir, "link.py"), "entry.path: link.py resolves outside working_dir"),
        (spec_for(tmp_path / "nope", "a.py"), "working_dir: "),
    ]
    for spec, expected in cases:
        with pytest.raises(InvalidInput, match=expected):
            service.submit(spec)
    assert service.store.count() == 0


def test_several_problems_are_all_reported() -> None:
    with pytest.raises(InvalidSpec) as info:
        parse_spec({"name": "x", "entry": {"kind": "script", "path": "a.py"}, "ranks": 0,
                    "timeout_s": -1, "backend": "mesos"})  # fmt: skip
    fields = sorted(p.split(":")[0] for p in info.value.problems)
    assert fields == ["backend", "ranks", "timeout_s"]


def test_spec_that_is_not_a_mapping() -> None:
    with pytest.raises(InvalidSpec, match="spec: must be a mapping"):
        parse_spec(["not", "a", "spec"])  # type: ignore[arg-type]


def test_env_values_are_not_echoed_in_messages() -> None:
    with pytest.raises(InvalidSpec) as info:
        parse_spec({"name": "x", "entry": {"kind": "module", "module": "m"},
                    "env": {"TOKEN": "s3cret\x00"}})  # fmt: skip
    assert "s3cret" not in str(info.value)


def test_valid_spec_defaults_and_normalisation() -> None:
    spec = parse_spec(
        {
            "name": "mnist",
            "entry": {"kind": "script", "path": "./src/../train.py", "args": ["--epochs", "2"]},
            "ranks": 4,
            "ranks_per_node": 2,
            "resources": {"cpus": 2, "memory": "2Gi"},
        }
    )
    assert spec.entry.kind == "script" and spec.entry.path == "train.py"
    assert spec.backend == "local" and spec.retries == 0 and spec.timeout_s is None
    assert spec.nodes == 2 and spec.resources.memory_mib == 2048
    assert JobSpec.model_validate(spec.model_dump(mode="json")) == spec  # stored form round-trips
