"""Env values of a job spec are secrets: never shown, never logged, only in 0600 files, and
on Kubernetes only in a Secret the pods reference."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tornado.httpclient import HTTPClientError
from typer.testing import CliRunner

from tests.conftest import REPO_ROOT
from tests.jobs.conftest import FakeSlurm, spec_for
from tests.jobs.fake_kube import FakeKubeServer
from tests.jobs.test_kubernetes_backend import kube_spec
from workbench.cli import app
from workbench.errors import ServiceUnavailable
from workbench.jobs.backends.mpijob import manifest_problems
from workbench.jobs.secrets import REDACTED, redact_spec, write_private
from workbench.jobs.service import JobService
from workbench.jobs.states import JobState

SENTINEL = f"tok-{uuid.uuid4().hex}"
# The job store holds the spec, env included, so a retry can relaunch it: 0600 like the rest.
STORE_FILES = {"jobs.db", "jobs.db-wal", "jobs.db-shm"}
CHECK_TOKEN = f"""
import os
assert os.environ["API_TOKEN"] == {SENTINEL!r}, "the rank did not get the env value"
print("token delivered to rank", os.environ["OMPI_COMM_WORLD_RANK"], flush=True)
"""
runner = CliRunner()


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        for folder, _, names in os.walk(root):
            yield from (Path(folder) / name for name in names)


def holders(*roots: Path) -> dict[Path, int]:
    """Every file under ``roots`` that holds the sentinel, with its permission bits."""
    return {
        path: stat.S_IMODE(path.lstat().st_mode)
        for path in files_under(*roots)
        if path.is_file() and SENTINEL.encode() in path.read_bytes()
    }


def assert_private_holders(home: Path, expected: set[str]) -> None:
    found = holders(home)
    assert {p.name for p in found} - STORE_FILES == expected, found
    assert {p.name for p in found} & STORE_FILES  # the walk does see the value where it is
    loose = {p: oct(m) for p, m in found.items() if m != 0o600}
    assert loose == {}


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)  # what a careless login shell may have: nothing masked
    yield
    os.umask(old)


async def _json(jp_fetch: Any, *parts: str, **kwargs: Any) -> tuple[int, str]:
    response = await jp_fetch("workbench", "api", *parts, **kwargs)
    return response.code, response.body.decode()


@pytest.mark.mpi
async def test_env_values_never_leave_in_rest_cli_or_logs(
    jp_fetch: Any, jp_root_dir: Path, wb_home: Path
) -> None:
    (jp_root_dir / "check.py").write_text(textwrap.dedent(CHECK_TOKEN))
    spec = {"name": "secret", "entry": {"kind": "script", "path": "check.py"}, "ranks": 2}
    spec["env"] = {"API_TOKEN": SENTINEL}
    bodies = []
    code, body = await _json(jp_fetch, "jobs", method="POST", body=json.dumps(spec))
    assert code == 201
    bodies.append(body)
    job_id = json.loads(body)["id"]
    for _ in range(600):
        _, body = await _json(jp_fetch, "jobs", job_id)
        if json.loads(body)["state"] in ("succeeded", "failed", "cancelled", "lost"):
            break
        await asyncio.sleep(0.1)
    job = json.loads(body)
    assert job["state"] == "succeeded", job  # the ranks did get the value
    assert job["spec"]["env"] == {"API_TOKEN": REDACTED}
    bodies += [body, (await _json(jp_fetch, "jobs"))[1]]
    _, logs = await _json(jp_fetch, "jobs", job_id, "logs")
    assert "token delivered to rank 1" in logs
    bodies.append(logs)
    bad = {**spec, "ranks": 0, "env": {"API_TOKEN": SENTINEL, "bad key": SENTINEL}}
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "jobs", method="POST", body=json.dumps(bad))
    assert err.value.code == 400
    bodies.append(err.value.response.body.decode())
    assert all(SENTINEL not in b for b in bodies)

    outputs = [
        runner.invoke(app, ["jobs", *args]).output
        for args in (["show", job_id, "--json"], ["show", job_id], ["list", "--json"])
    ]
    assert json.loads(outputs[0])["spec"]["env"] == {"API_TOKEN": REDACTED}
    assert job_id in outputs[1] and job_id in outputs[2]
    assert all(SENTINEL not in out for out in outputs)
    job_dir = wb_home / "jobs" / job_id
    assert (job_dir / "logs" / "rank-1.out").read_text().strip() == "token delivered to rank 1"
    assert holders(job_dir) == {}  # logs, supervisor log, mpiexec log: none holds it
    assert_private_holders(wb_home, set())


def test_the_sbatch_script_is_0600_whatever_the_umask(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm, permissive_umask: None
) -> None:
    spec = spec_for(workdir, "allreduce.py", backend="slurm", env={"API_TOKEN": SENTINEL})
    job = service.submit(spec)
    script = job.job_dir / "job.sbatch"
    assert f"export API_TOKEN={SENTINEL}" in script.read_text()  # Slurm gets the value
    assert stat.S_IMODE(script.stat().st_mode) == 0o600
    assert SENTINEL not in json.dumps(service.get(job.id).to_dict())
    assert_private_holders(service.settings.home, {"job.sbatch"})


def test_kubernetes_env_values_go_into_a_secret_the_mpijob_owns(
    service: JobService, fake_kube: FakeKubeServer
) -> None:
    fake_kube.answers = {"create": "mpijob_created.json", "create_secret": "secret_created.json"}
    job = service.submit(kube_spec(env={"API_TOKEN": SENTINEL, "DATA_DIR": "/data"}))
    assert job.state is JobState.STARTING
    create, secret = fake_kube.requests
    manifest = create["body"]
    assert SENTINEL not in json.dumps(manifest) and "/data" not in json.dumps(manifest)
    assert manifest_problems(manifest) == []
    name = f"wb-mnist-{job.id[:8]}"
    for role in ("Launcher", "Worker"):
        [container] = manifest["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        ref = {"secretKeyRef": {"name": f"{name}-env", "key": "API_TOKEN"}}
        assert env["API_TOKEN"] == {"name": "API_TOKEN", "valueFrom": ref}
        assert env["WORKBENCH_JOB_ID"] == {"name": "WORKBENCH_JOB_ID", "value": job.id}
    assert secret["path"] == "/api/v1/namespaces/team-a/secrets"
    body = secret["body"]
    assert (body["kind"], body["type"], body["metadata"]["name"]) == (
        "Secret",
        "Opaque",
        f"{name}-env",
    )
    decoded = {k: base64.b64decode(v).decode() for k, v in body["data"].items()}
    assert decoded == {"API_TOKEN": SENTINEL, "DATA_DIR": "/data"}
    [owner] = body["metadata"]["ownerReferences"]  # deleted with the MPIJob
    assert owner == {
        "apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "name": name,
        "uid": "7d3c1a52-9b8e-4f0e-a1c2-5e6f7a8b9c0d",
    }  # fmt: skip
    assert SENTINEL not in json.dumps(service.get(job.id).to_dict())
    assert_private_holders(service.settings.home, set())


def test_a_secret_that_cannot_be_created_takes_its_mpijob_with_it(
    service: JobService, fake_kube: FakeKubeServer
) -> None:
    fake_kube.answers = {
        "create": "mpijob_created.json", "create_secret": 403, "delete": "mpijob_deleting.json",
    }  # fmt: skip
    with pytest.raises(ServiceUnavailable, match=r"creating Secret team-a/wb-mnist-.*-env"):
        service.submit(kube_spec(env={"API_TOKEN": SENTINEL}))
    methods = [(r["method"], r["path"].rsplit("/", 2)[-2:]) for r in fake_kube.requests]
    assert methods[0] == ("POST", ["team-a", "mpijobs"])
    assert methods[-1][0] == "DELETE" and methods[-1][1][0] == "mpijobs"
    [job] = service.list()
    assert job.state is JobState.FAILED and SENTINEL not in (job.reason or "")


def published_crd_schema() -> dict[str, Any]:
    """The v2beta1 schema of the MPI operator's published CRD, when this checkout has it."""
    root = Path(os.environ.get("WORKBENCH_SHARED_SCHEMAS", REPO_ROOT.parent / "shared/schemas"))
    path = root / "kubeflow.org_mpijobs.yaml"
    if not path.is_file():
        pytest.skip(f"published MPIJob CRD not found at {path} (set WORKBENCH_SHARED_SCHEMAS)")
    crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v2beta1"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def test_secret_refs_fit_the_published_crd() -> None:
    import jsonschema

    from tests.jobs.test_kubernetes_backend import record
    from workbench.jobs.backends.mpijob import render_mpijob
    from workbench.jobs.spec import parse_spec

    manifest = render_mpijob(parse_spec(kube_spec(env={"API_TOKEN": SENTINEL})), record())
    validator = jsonschema.Draft7Validator(published_crd_schema())
    assert [e.message for e in validator.iter_errors(manifest)] == []
    worker = manifest["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    del next(e for e in worker["env"] if "valueFrom" in e)["valueFrom"]["secretKeyRef"]["key"]
    assert any("'key' is a required property" in e.message for e in validator.iter_errors(manifest))
    assert any("'key' is a required property" in p for p in manifest_problems(manifest))


def test_redaction_keeps_keys_and_the_rest_of_the_spec() -> None:
    spec = {"name": "x", "env": {"A": SENTINEL, "B": ""}, "ranks": 2}
    assert redact_spec(spec) == {"name": "x", "env": {"A": REDACTED, "B": REDACTED}, "ranks": 2}
    assert spec["env"]["A"] == SENTINEL  # the stored spec is not changed
    assert redact_spec({"name": "x"}) == {"name": "x"}


def test_write_private_is_0600_even_over_an_open_file_or_umask_0(
    tmp_path: Path, permissive_umask: None
) -> None:
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.write_text("old")
    existing.chmod(0o644)
    for path in (fresh, existing):
        write_private(path, SENTINEL)
        assert path.read_text() == SENTINEL and stat.S_IMODE(path.stat().st_mode) == 0o600
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):
        write_private(link, SENTINEL)
    assert not (tmp_path / "elsewhere").exists()
