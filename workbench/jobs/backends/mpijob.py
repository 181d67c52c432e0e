"""Kubeflow ``MPIJob`` (kubeflow.org/v2beta1): render the manifest, check it, read its status.

One launcher pod runs ``mpirun`` over ``ranks / slotsPerWorker`` worker pods (which run
sshd, as in the MPI operator's examples). The launcher's command is ``sh -c <fixed text>
sh mpirun ...``: the fixed text only sets ``WORKBENCH_RESUME_FROM`` from the checkpoint
directory and ``exec``-s its arguments, so no user text is ever parsed by a shell. Retries
are the launcher Job's ``backoffLimit`` (Kubernetes backs off exponentially between pods).
The spec's ``env`` values never appear in the manifest: they go into a ``Secret`` owned by
the MPIJob (deleted with it) and each container reads them with ``secretKeyRef``.
"""

from __future__ import annotations

import base64
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from workbench.errors import InvalidInput
from workbench.jobs.backends.launch import entry_argv, rank_env
from workbench.jobs.checkpoints import SHELL_RESUME
from workbench.jobs.spec import JobSpec, KubernetesOptions
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord

GROUP, VERSION, PLURAL = "kubeflow.org", "v2beta1", "mpijobs"
SCHEMA_PATH = Path(__file__).with_name("mpijob_v2beta1.schema.json")
WORKER_COMMAND = ["/usr/sbin/sshd", "-De"]
LAUNCHER_SCRIPT = f'{SHELL_RESUME}; exec "$@"'
DEFAULT_CHECKPOINT_DIR = "/tmp/workbench-checkpoints"  # noqa: S108 - inside the container
KEEP_FINISHED_S = 86400  # ttlSecondsAfterFinished: logs stay readable for a day
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
JOB_ROLE_LABEL = "training.kubeflow.org/job-role"


def mpijob_name(job: JobRecord) -> str:
    return f"wb-{job.name}-{job.id[:8]}"


def _per_worker(spec: JobSpec, slots: int) -> dict[str, Any]:
    res = spec.resources
    amounts: dict[str, Any] = {"cpu": str(res.cpus * slots)}
    if res.memory_mib:
        amounts["memory"] = f"{res.memory_mib * slots}Mi"
    if res.gpus:
        amounts["nvidia.com/gpu"] = str(res.gpus * slots)
    return {"limits": amounts, "requests": dict(amounts)}


def env_secret_name(job: JobRecord) -> str:
    return f"{mpijob_name(job)}-env"


def _env_var(name: str, value: str, spec: JobSpec, job: JobRecord) -> dict[str, Any]:
    if name not in spec.env:  # set by workbench (job id, checkpoint dir): not secret
        return {"name": name, "value": value}
    ref = {"name": env_secret_name(job), "key": name}
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def render_env_secret(spec: JobSpec, job: JobRecord, owner_uid: str) -> dict[str, Any] | None:
    """The ``Secret`` holding the spec's env values, owned by the MPIJob (None: no env)."""
    if not spec.env or spec.kubernetes is None:
        return None
    data = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(spec.env.items())}
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MPIJob",
        "name": mpijob_name(job),
        "uid": owner_uid,
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": env_secret_name(job),
            "namespace": spec.kubernetes.namespace,
            "labels": _labels(job),
            "ownerReferences": [owner],
        },
        "data": data,
    }


def _labels(job: JobRecord) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "workbench", "workbench/job-id": job.id}


def _container(
    name: str, opts: KubernetesOptions, spec: JobSpec, job: JobRecord, env: dict[str, str]
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": opts.image,
        "env": [_env_var(k, v, spec, job) for k, v in sorted(env.items())],
    }
    if opts.image_pull_policy:
        container["imagePullPolicy"] = opts.image_pull_policy
    if spec.working_dir:
        container["workingDir"] = spec.working_dir
    return container


def _launcher(
    spec: JobSpec, opts: KubernetesOptions, job: JobRecord, env: dict[str, str]
) -> dict[str, Any]:
    """``sh -c LAUNCHER_SCRIPT sh mpirun ... python ...``: every rank gets ``env`` (-x)."""
    forwarded = [arg for name in sorted({*env, "WORKBENCH_RESUME_FROM"}) for arg in ("-x", name)]
    mpirun = ["mpirun", "-n", str(spec.ranks), "--tag-output", *forwarded]
    container = _container("launcher", opts, spec, job, env)
    container["env"] += [
        {"name": "OMPI_ALLOW_RUN_AS_ROOT", "value": "1"},
        {"name": "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "value": "1"},
    ]
    entry = entry_argv(spec, opts.python)
    container["command"] = ["sh", "-c", LAUNCHER_SCRIPT, "sh", *mpirun, *entry]
    container["resources"] = {"requests": {"cpu": "250m", "memory": "256Mi"}}
    return container


def _checkpoint_dir(spec: JobSpec, job: JobRecord) -> str:
    """Inside the container: under working_dir when given, else the image's working dir."""
    if not spec.checkpoint_dir:
        return DEFAULT_CHECKPOINT_DIR
    return (job.checkpoint_dir if spec.working_dir else None) or spec.checkpoint_dir


def _run_policy(spec: JobSpec) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "cleanPodPolicy": "Running",
        "backoffLimit": spec.retries,
        "ttlSecondsAfterFinished": KEEP_FINISHED_S,
    }
    if spec.timeout_s:
        policy["activeDeadlineSeconds"] = math.ceil(spec.timeout_s)
    return policy


def render_mpijob(spec: JobSpec, job: JobRecord) -> dict[str, Any]:
    """The MPIJob manifest for ``job`` (a plain dict, ready for the API)."""
    opts = spec.kubernetes
    if opts is None:
        raise InvalidInput("kubernetes: required when backend is 'kubernetes' (image)")
    slots = spec.ranks_per_node or 1
    env = rank_env(spec, job.id, 1, _checkpoint_dir(spec, job))
    worker = _container("worker", opts, spec, job, env)
    worker["command"] = list(WORKER_COMMAND)
    worker["resources"] = _per_worker(spec, slots)
    labels = _labels(job)

    def replica(count: int, container: dict[str, Any]) -> dict[str, Any]:
        template = {"metadata": {"labels": dict(labels)}, "spec": {"containers": [container]}}
        return {"replicas": count, "restartPolicy": "Never", "template": template}

    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "MPIJob",
        "metadata": {
            "name": mpijob_name(job),
            "namespace": opts.namespace,
            "labels": labels,
            "annotations": {"workbench/job-name": job.name},
        },
        "spec": {
            "slotsPerWorker": slots,
            "mpiImplementation": "OpenMPI",
            "sshAuthMountPath": opts.ssh_auth_mount_path,
            "runPolicy": _run_policy(spec),
            "mpiReplicaSpecs": {
                "Launcher": replica(1, _launcher(spec, opts, job, env)),
                "Worker": replica(spec.ranks // slots, worker),
            },
        },
    }


@cache
def mpijob_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema


def manifest_problems(manifest: dict[str, Any]) -> list[str]:
    """Where ``manifest`` breaks the MPIJob v2beta1 schema ("spec.slotsPerWorker: ...")."""
    validator = jsonschema.Draft7Validator(mpijob_schema())
    problems = [
        f"{'.'.join(str(p) for p in err.absolute_path) or '<root>'}: {err.message}"
        for err in validator.iter_errors(manifest)
    ]
    name = manifest.get("metadata", {}).get("name", "")
    workers = manifest.get("spec", {}).get("mpiReplicaSpecs", {}).get("Worker", {})
    host = f"{name}-worker-{max(1, int(workers.get('replicas', 1))) - 1}"
    if len(host) > 63:
        problems.append(f"metadata.name: worker host name {host!r} is longer than 63 characters")
    return sorted(problems)


def validate_manifest(manifest: dict[str, Any]) -> None:
    problems = manifest_problems(manifest)
    if problems:
        raise InvalidInput("MPIJob manifest is invalid: " + "; ".join(problems))


def mpijob_state(obj: dict[str, Any]) -> tuple[JobState, str | None]:
    """Our state for an MPIJob object, from its ``status.conditions``."""
    conditions = {
        c.get("type"): c for c in obj.get("status", {}).get("conditions", []) or []
        if c.get("status") == "True"
    }  # fmt: skip
    if "Succeeded" in conditions:
        return JobState.SUCCEEDED, None
    if "Failed" in conditions:
        cond = conditions["Failed"]
        return JobState.FAILED, f"{cond.get('reason', 'Failed')}: {cond.get('message', '')}"
    if "Running" in conditions:
        return JobState.RUNNING, None
    if "Restarting" in conditions:
        cond = conditions["Restarting"]
        return JobState.STARTING, f"restarting: {cond.get('message', '')}"
    return JobState.STARTING, None
