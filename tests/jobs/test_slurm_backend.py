"""The Slurm backend against recorded sbatch/squeue/sacct/scancel output (fake tools on PATH)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tenacity import wait_none

from tests.jobs.conftest import FakeSlurm, spec_for
from workbench.errors import InvalidInput, ServiceUnavailable
from workbench.jobs.backends.sbatch import parse_sacct, slurm_time
from workbench.jobs.backends.slurm import SlurmBackend
from workbench.jobs.service import JobService
from workbench.jobs.states import JobState


def slurm_spec(workdir: Path, **fields: Any) -> dict[str, Any]:
    spec = spec_for(workdir, "allreduce.py", "--epochs", "2 3", backend="slurm", **fields)
    spec.setdefault("slurm", {"partition": "gpu", "account": "ml-team"})
    return spec


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SlurmBackend, "command_wait", wait_none())
    monkeypatch.setattr(SlurmBackend, "follow_poll_s", 0.01)


def test_submit_renders_the_script_and_calls_sbatch_parsable(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    spec = slurm_spec(
        workdir,
        ranks=4,
        ranks_per_node=2,
        timeout_s=5400.5,
        retries=2,
        resources={"cpus": 2, "gpus": 1, "memory": "3Gi"},
        env={"DATA": "/scratch/my data", "QUOTE": "it's"},
    )
    job = service.submit(spec)
    assert job.state is JobState.STARTING and job.backend_ref["slurm_job_id"] == "4242"
    [argv] = fake_slurm.calls("sbatch")
    assert argv == [
        "--parsable", f"--chdir={workdir}", f"--output={job.log_dir}/slurm-%j.out",
        str(job.job_dir / "job.sbatch"),
    ]  # fmt: skip
    script = fake_slurm.script()
    for line in [
        f"#SBATCH --job-name=wb-test-{job.id[:8]}", "#SBATCH --ntasks=4", "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=2", "#SBATCH --cpus-per-task=2", "#SBATCH --gpus-per-task=1",
        "#SBATCH --mem-per-cpu=1536M", "#SBATCH --time=0-01:30:01", "#SBATCH --partition=gpu",
        "#SBATCH --account=ml-team", "export DATA='/scratch/my data'",
        "export QUOTE='it'\"'\"'s'", f"export WORKBENCH_JOB_ID={job.id}", "max_attempts=3",
        f"  srun --mpi=pmix --kill-on-bad-exit=1 --output={job.log_dir}/rank-%t.out "
        f"--error={job.log_dir}/rank-%t.err -- python3 -u allreduce.py --epochs '2 3'",
    ]:  # fmt: skip
        assert line in script.splitlines(), line
    check = subprocess.run(["bash", "-n", str(job.job_dir / "job.sbatch")], capture_output=True)
    assert check.returncode == 0, check.stderr


def test_states_follow_squeue_then_sacct(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    job = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(sacct="sacct_none", squeue="squeue_pending")
    assert service.refresh(job.id).state is JobState.STARTING  # not in accounting yet: squeue
    fake_slurm.scenario(sacct="sacct_running", squeue="squeue_running")
    assert service.refresh(job.id).state is JobState.RUNNING
    fake_slurm.scenario(sacct="sacct_completed", squeue="squeue_invalid_job")
    done = service.refresh(job.id)
    assert done.state is JobState.SUCCEEDED and done.reason is None
    assert fake_slurm.calls("sacct")[-1] == [
        "-j", "4242", "--parsable2", "--noheader", "--format=JobID,State,ExitCode",
    ]  # fmt: skip
    assert fake_slurm.calls("squeue")[0] == ["-j", "4242", "--noheader", "--format=%T"]


@pytest.mark.parametrize(
    ("recording", "reason"),
    [
        (
            "sacct_failed",
            "Slurm job 4242 FAILED: exit code 1:0; step 4242.0 FAILED (exit code 1:0)",
        ),
        ("sacct_timeout", "Slurm job 4242 TIMEOUT: it ran past its --time limit (timeout_s)"),
        ("sacct_out_of_memory", "Slurm job 4242 OUT_OF_MEMORY: a step ran out of memory"),
    ],
)
def test_failures_carry_slurms_reason(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm, recording: str, reason: str
) -> None:
    job = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(sacct=recording, squeue="squeue_invalid_job")
    done = service.refresh(job.id)
    assert done.state is JobState.FAILED
    assert done.reason is not None and done.reason.startswith(reason)


def test_cancel_calls_scancel(service: JobService, workdir: Path, fake_slurm: FakeSlurm) -> None:
    job = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(scancel="scancel_ok", sacct="sacct_running", squeue="squeue_running")
    cancelling = service.cancel(job.id)
    assert cancelling.state is JobState.CANCELLING and cancelling.cancel_requested
    assert fake_slurm.calls("scancel") == [["4242"]]
    assert service.refresh(job.id).state is JobState.CANCELLING  # Slurm still runs it
    fake_slurm.scenario(sacct="sacct_cancelled", squeue="squeue_invalid_job")
    done = service.refresh(job.id)
    assert done.state is JobState.CANCELLED and done.reason == "cancelled by request"


def test_cancelled_outside_workbench_and_forgotten_jobs(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    outside = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(sacct="sacct_cancelled", squeue="squeue_invalid_job")
    assert service.refresh(outside.id).reason == "cancelled outside workbench (scancel)"
    forgotten = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(sacct="sacct_none", squeue="squeue_invalid_job")
    lost = service.refresh(forgotten.id)
    assert lost.state is JobState.LOST
    assert lost.reason == "Slurm no longer knows job 4242 (neither squeue nor sacct lists it)"


def test_accounting_disabled_falls_back_to_squeue(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    job = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(sacct="sacct_disabled", squeue="squeue_running")
    assert service.refresh(job.id).state is JobState.RUNNING


def test_transient_errors_are_retried(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    fake_slurm.scenario(sbatch=["sbatch_socket_timeout", "sbatch_parsable_cluster"])
    job = service.submit(slurm_spec(workdir))
    assert job.backend_ref == {"slurm_job_id": "4242", "cluster": "gpu-cluster"}
    assert len(fake_slurm.calls("sbatch")) == 2
    fake_slurm.scenario(sbatch="sbatch_socket_timeout")
    with pytest.raises(ServiceUnavailable, match="Slurm did not answer: sbatch: error"):
        service.submit(slurm_spec(workdir))
    assert len(fake_slurm.calls("sbatch")) == 2 + SlurmBackend.command_attempts


def test_rejected_submission(service: JobService, workdir: Path, fake_slurm: FakeSlurm) -> None:
    fake_slurm.scenario(sbatch="sbatch_invalid_partition")
    with pytest.raises(
        InvalidInput, match=r"sbatch refused the job: (?s:.*)Invalid partition name"
    ):
        service.submit(slurm_spec(workdir))
    [job] = service.list()
    assert job.state is JobState.FAILED and "Invalid partition name" in (job.reason or "")


def test_no_slurm_on_this_machine(
    service: JobService, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceUnavailable, match="sbatch not found on PATH"):
        service.submit(slurm_spec(workdir))
    assert service.store.count() == 0


def test_restarted_service_asks_slurm(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    job = service.submit(slurm_spec(workdir))
    fake_slurm.scenario(sacct="sacct_completed", squeue="squeue_invalid_job")
    assert JobService().store.get(job.id).state is JobState.SUCCEEDED  # start-up recovery


def test_logs_per_rank_and_from_the_batch_output(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm
) -> None:
    job = service.submit(slurm_spec(workdir, slurm={"launcher": "mpirun"}))
    (job.log_dir / "rank-1.out").write_text("epoch 1\n")
    (job.log_dir / "slurm-4242.out").write_text(
        "workbench: attempt 1 failed (status 1); retrying in 2s\n"
        "[prterun-node01-48213@1,0]<stdout>: rank 0 says hi\n"
    )
    fake_slurm.scenario(sacct="sacct_completed", squeue="squeue_invalid_job")
    lines = [str(line) for line in service.logs(job.id, follow=True)]
    assert lines == [
        "[launcher] workbench: attempt 1 failed (status 1); retrying in 2s",
        "[0:out] rank 0 says hi",
        "[1:out] epoch 1",
    ]
    assert [str(x) for x in service.logs(job.id, rank=0)] == ["[0:out] rank 0 says hi"]


FAKE_SRUN = """\
import os, re, subprocess, sys
args = sys.argv[1:]
out = next(a.split("=", 1)[1] for a in args if a.startswith("--output="))
err = next(a.split("=", 1)[1] for a in args if a.startswith("--error="))
command = args[args.index("--") + 1:]
codes = []
for task in range(int(os.environ["SLURM_NTASKS"])):
    env = dict(os.environ, SLURM_PROCID=str(task), OMPI_COMM_WORLD_RANK=str(task))
    with open(out.replace("%t", str(task)), "a") as o, open(err.replace("%t", str(task)), "a") as e:
        codes.append(subprocess.call(command, stdout=o, stderr=e, env=env))
sys.exit(max(codes))
"""


def test_the_rendered_script_retries_and_resumes(
    service: JobService, workdir: Path, fake_slurm: FakeSlurm, tmp_path: Path
) -> None:
    """Run the sbatch script itself, with a fake srun: attempt 2 resumes from attempt 1."""
    spec = spec_for(
        workdir, "resumable.py", backend="slurm", retries=1, retry_backoff_s=0.1,
        env={"FAIL_FIRST": "1"}, slurm={"python": sys.executable},
    )  # fmt: skip
    job = service.submit(spec)
    srun = tmp_path / "slurm-bin" / "srun"
    srun.write_text(f"#!{sys.executable}\n{FAKE_SRUN}")
    srun.chmod(0o755)
    env = dict(os.environ, SLURM_NTASKS="2")
    run = subprocess.run(
        ["bash", str(job.job_dir / "job.sbatch")], cwd=workdir, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "workbench: attempt 1 failed (status 3); retrying in 1s" in run.stderr
    rank0 = (job.log_dir / "rank-0.out").read_text().splitlines()
    assert rank0 == [
        "attempt 1 resume=- step=0",
        f"attempt 2 resume={job.checkpoint_dir}/step-5.json step=5",
    ]


def test_parsers() -> None:
    text = textwrap.dedent("""\
        4242|CANCELLED by 1000|0:0
        4242.batch|CANCELLED|0:15
        4242.extern|COMPLETED|0:0
    """)
    assert parse_sacct(text, "4242") == ("CANCELLED", "0:0", None)
    assert parse_sacct("", "4242") == (None, None, None)
    assert slurm_time(59.2) == "0-00:01:00"
    assert slurm_time(2 * 86400 + 3661) == "2-01:01:01"
