"""The Kubernetes backend: MPIJob manifests checked against the v2beta1 schema, and the real
``kubernetes`` client talking to a recorded API on loopback."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from tests.jobs.fake_kube import FakeKubeServer
from workbench.errors import ServiceUnavailable
from workbench.jobs.backends.kubernetes import KubernetesBackend
from workbench.jobs.backends.mpijob import (
    LAUNCHER_SCRIPT,
    manifest_problems,
    mpijob_state,
    render_mpijob,
)
from workbench.jobs.service import JobService
from workbench.jobs.spec import parse_spec
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord

MPIJOBS = "/apis/kubeflow.org/v2beta1/namespaces/team-a/mpijobs"
REPLICAS = ("spec", "mpiReplicaSpecs")
SECRET = "secret_created.json"


def kube_spec(**fields: Any) -> dict[str, Any]:
    spec = {
        "name": "mnist",
        "entry": {"kind": "module", "module": "train", "args": ["--epochs", "3"]},
        "ranks": 4,
        "ranks_per_node": 2,
        "backend": "kubernetes",
        "resources": {"cpus": 2, "gpus": 1, "memory": "4Gi"},
        "env": {"DATA_DIR": "/data"},
        "timeout_s": 3600,
        "retries": 2,
        "kubernetes": {"image": "ghcr.io/example/workbench-worker:0.1.0", "namespace": "team-a"},
    }
    return {**spec, **fields}


def record(job_id: str = "3f2a9c1e5b7d") -> JobRecord:
    return JobRecord(
        id=job_id, name="mnist", backend="kubernetes", state=JobState.QUEUED, ranks=4, spec={},
        attempt=1, reason=None, created_at=0.0, updated_at=0.0, started_at=None,
        finished_at=None, job_dir=Path("/unused"), checkpoint_dir=None, cancel_requested=False,
        retry_of=None,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KubernetesBackend, "call_wait", wait_none())


def test_manifest_has_launcher_workers_slots_resources_env_and_image() -> None:
    manifest = render_mpijob(parse_spec(kube_spec()), record())
    assert manifest_problems(manifest) == []
    assert manifest["apiVersion"] == "kubeflow.org/v2beta1" and manifest["kind"] == "MPIJob"
    assert manifest["metadata"]["name"] == "wb-mnist-3f2a9c1e"
    assert manifest["metadata"]["namespace"] == "team-a"
    spec = manifest["spec"]
    assert spec["slotsPerWorker"] == 2 and spec["mpiImplementation"] == "OpenMPI"
    assert spec["runPolicy"] == {
        "cleanPodPolicy": "Running", "backoffLimit": 2, "activeDeadlineSeconds": 3600,
        "ttlSecondsAfterFinished": 86400,
    }  # fmt: skip
    launcher = spec["mpiReplicaSpecs"]["Launcher"]
    worker = spec["mpiReplicaSpecs"]["Worker"]
    assert launcher["replicas"] == 1 and worker["replicas"] == 2
    [lc] = launcher["template"]["spec"]["containers"]
    [wc] = worker["template"]["spec"]["containers"]
    assert lc["image"] == wc["image"] == "ghcr.io/example/workbench-worker:0.1.0"
    assert lc["command"][:4] == ["sh", "-c", LAUNCHER_SCRIPT, "sh"]
    mpirun = lc["command"][4:]
    assert mpirun[:4] == ["mpirun", "-n", "4", "--tag-output"]
    assert mpirun[-6:] == ["python3", "-u", "-m", "train", "--epochs", "3"]
    for name in ("DATA_DIR", "WORKBENCH_JOB_ID", "WORKBENCH_RESUME_FROM"):
        assert mpirun[mpirun.index(name) - 1] == "-x"  # forwarded to every rank
    from_secret = {"secretKeyRef": {"name": "wb-mnist-3f2a9c1e-env", "key": "DATA_DIR"}}
    assert {"name": "DATA_DIR", "valueFrom": from_secret} in wc["env"]  # the value: a Secret
    assert wc["command"] == ["/usr/sbin/sshd", "-De"]
    per_worker = {"cpu": "4", "memory": "8192Mi", "nvidia.com/gpu": "2"}
    assert wc["resources"] == {"limits": per_worker, "requests": per_worker}


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (
            ("spec", "mpiReplicaSpecs", "Launcher", "replicas"),
            2,
            "Launcher.replicas: 1 was expected",
        ),
        (("spec", "mpiReplicaSpecs", "Worker", "replicas"), 0, "Worker.replicas: 0 is less than"),
        (
            ("spec", "mpiReplicaSpecs", "Worker", "restartPolicy"),
            "Always",
            "'Always' is not one of",
        ),
        (("spec", "runPolicy", "cleanPodPolicy"), "Sometimes", "'Sometimes' is not one of"),
        (("spec", "slotsPerWorker"), -1, "slotsPerWorker: -1 is less than the minimum of 0"),
        (("spec", "mpiImplementation"), "OpenMPIv5", "'OpenMPIv5' is not one of"),
        (("spec", "runPolicy", "backoffLimit"), -1, "backoffLimit: -1 is less than"),
        (("metadata", "name"), "Wb_Job", "metadata.name: 'Wb_Job' does not match"),
        (("metadata", "name"), "a" * 56, "worker host name"),
        (("apiVersion",), "kubeflow.org/v1", "apiVersion: 'kubeflow.org/v2beta1' was expected"),
    ],
)
def test_schema_rejects_what_the_operator_would(
    path: tuple[str, ...], value: Any, problem: str
) -> None:
    manifest = copy.deepcopy(render_mpijob(parse_spec(kube_spec()), record()))
    node = manifest
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert any(problem in p for p in manifest_problems(manifest)), manifest_problems(manifest)


def test_schema_requires_containers_and_images() -> None:
    manifest = render_mpijob(parse_spec(kube_spec()), record())
    worker = manifest["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]
    del worker["containers"][0]["image"]
    manifest["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"] = []
    problems = manifest_problems(manifest)
    assert any("Launcher.template.spec.containers: [] should be non-empty" in p for p in problems)
    assert any("'image' is a required property" in p for p in problems)


def test_submit_creates_the_mpijob_through_the_api(
    service: JobService, fake_kube: FakeKubeServer
) -> None:
    fake_kube.answers = {"create": "mpijob_created.json", "create_secret": SECRET}
    job = service.submit(kube_spec())
    assert job.state is JobState.STARTING
    name = f"wb-mnist-{job.id[:8]}"
    assert job.backend_ref == {
        "namespace": "team-a", "name": name, "uid": "7d3c1a52-9b8e-4f0e-a1c2-5e6f7a8b9c0d",
    }  # fmt: skip
    create, secret = fake_kube.requests
    assert (create["method"], create["path"]) == ("POST", MPIJOBS)
    assert create["body"] == render_mpijob(parse_spec(job.spec), job)
    assert (secret["method"], secret["path"]) == ("POST", "/api/v1/namespaces/team-a/secrets")


def test_status_conditions_drive_the_state(service: JobService, fake_kube: FakeKubeServer) -> None:
    fake_kube.answers = {
        "create": "mpijob_created.json", "create_secret": SECRET,
        "get": "mpijob_created_status.json",
    }  # fmt: skip
    job = service.submit(kube_spec())
    assert service.refresh(job.id).state is JobState.STARTING
    fake_kube.answers["get"] = "mpijob_running.json"
    assert service.refresh(job.id).state is JobState.RUNNING
    fake_kube.answers["get"] = "mpijob_succeeded.json"
    assert service.refresh(job.id).state is JobState.SUCCEEDED
    assert fake_kube.requests[-1]["path"] == f"{MPIJOBS}/wb-mnist-{job.id[:8]}"

    failed = service.submit(kube_spec())
    fake_kube.answers["get"] = "mpijob_failed.json"
    done = service.refresh(failed.id)
    assert done.state is JobState.FAILED
    assert done.reason == "BackoffLimitExceeded/: Job has reached the specified backoff limit: "


def test_cancel_deletes_with_foreground_propagation(
    service: JobService, fake_kube: FakeKubeServer
) -> None:
    fake_kube.answers = {
        "create": "mpijob_created.json", "create_secret": SECRET, "delete": "mpijob_deleting.json",
    }  # fmt: skip
    job = service.submit(kube_spec())
    assert service.cancel(job.id).state is JobState.CANCELLING
    delete = fake_kube.requests[-1]
    assert delete["method"] == "DELETE" and delete["path"].endswith(job.backend_ref["name"])
    assert delete["query"]["propagationPolicy"] == ["Foreground"]
    fake_kube.answers["get"] = "mpijob_deleting.json"  # its pods are being stopped
    assert service.refresh(job.id).state is JobState.CANCELLING
    fake_kube.answers["get"] = 404  # gone: cancelled
    done = service.refresh(job.id)
    assert done.state is JobState.CANCELLED and done.reason == "cancelled by request"


def test_deleted_behind_our_back_is_lost(service: JobService, fake_kube: FakeKubeServer) -> None:
    fake_kube.answers = {"create": "mpijob_created.json", "create_secret": SECRET, "get": 404}
    job = service.submit(kube_spec())
    lost = service.refresh(job.id)
    assert lost.state is JobState.LOST
    assert (
        lost.reason
        == f"MPIJob team-a/wb-mnist-{job.id[:8]} no longer exists (deleted outside workbench?)"
    )


def test_transient_api_errors_are_retried(service: JobService, fake_kube: FakeKubeServer) -> None:
    fake_kube.answers = {"create": [503, 500, "mpijob_created.json"], "create_secret": SECRET}
    job = service.submit(kube_spec())
    assert job.state is JobState.STARTING
    assert [r["method"] for r in fake_kube.requests] == ["POST", "POST", "POST", "POST"]
    assert fake_kube.requests[-1]["path"] == "/api/v1/namespaces/team-a/secrets"


def test_missing_operator_is_reported(service: JobService, fake_kube: FakeKubeServer) -> None:
    fake_kube.answers = {"create": 404}
    with pytest.raises(ServiceUnavailable, match=r"is the MPI operator .* installed"):
        service.submit(kube_spec())
    [job] = service.list()
    assert job.state is JobState.FAILED


def test_no_cluster_configured_stores_nothing(
    service: JobService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ServiceUnavailable, match="no Kubernetes cluster configured"):
        service.submit(kube_spec())
    assert service.store.count() == 0


def test_logs_come_from_the_launcher_pod_tagged_by_rank(
    service: JobService, fake_kube: FakeKubeServer
) -> None:
    fake_kube.answers = {
        "create": "mpijob_created.json", "create_secret": SECRET, "pods": "pods_launcher.json",
        "log": "launcher.log",
    }  # fmt: skip
    job = service.submit(kube_spec())
    lines = [str(line) for line in service.logs(job.id, tail=100)]
    assert lines[:3] == [
        "[0:out] rank 0 of 2 ready", "[1:out] rank 1 of 2 ready",
        "[1:err] warning: no GPU found, using CPU",
    ]  # fmt: skip
    pods, log = fake_kube.requests[-2:]
    assert pods["query"]["labelSelector"] == [
        f"training.kubeflow.org/job-name={job.backend_ref['name']},"
        "training.kubeflow.org/job-role=launcher"
    ]
    assert log["path"].endswith(f"/pods/{job.backend_ref['name']}-launcher-x7k2p/log")
    assert log["query"]["tailLines"] == ["100"]
    assert [x.text for x in service.logs(job.id, rank=0)] == [
        "rank 0 of 2 ready", "allreduce sum 3.0",
    ]  # fmt: skip


def test_condition_mapping() -> None:
    def obj(*conditions: tuple[str, str]) -> dict[str, Any]:
        return {"status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}

    assert mpijob_state({})[0] is JobState.STARTING
    assert mpijob_state(obj(("Created", "True")))[0] is JobState.STARTING
    assert mpijob_state(obj(("Created", "True"), ("Running", "True")))[0] is JobState.RUNNING
    assert mpijob_state(obj(("Running", "False"), ("Succeeded", "True")))[0] is JobState.SUCCEEDED
    assert mpijob_state(obj(("Restarting", "True")))[0] is JobState.STARTING
