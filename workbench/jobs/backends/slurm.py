"""``slurm``: submit with ``sbatch --parsable``, poll ``sacct``/``squeue``, stop with ``scancel``.

The script itself is rendered by :mod:`workbench.jobs.backends.sbatch`; paths go on sbatch's
argv (``--chdir``, ``--output``), never into ``#SBATCH`` lines. Ranks write their logs to
``<job dir>/logs/rank-<r>.{out,err}`` (``srun --output=...%t``), so the job directory, under
the workbench home, must be on a file system the compute nodes share (as ``$HOME`` usually
is). Scheduler commands that fail for transient reasons are retried with tenacity.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import ClassVar

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential
from tenacity.wait import wait_base

from workbench.config import Settings
from workbench.errors import InvalidInput, ServiceUnavailable
from workbench.jobs.backends.launch import write_training_spec
from workbench.jobs.backends.sbatch import EXPLAINED, map_state, parse_sacct, render_script
from workbench.jobs.logs import LogFollower, LogLine, read_logs
from workbench.jobs.secrets import write_private
from workbench.jobs.spec import JobSpec
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord, JobStore

SCRIPT_NAME = "job.sbatch"
UNSUBMITTED_AFTER_S = 60.0
_TRANSIENT = re.compile(
    r"Socket timed out|Unable to contact slurm controller|Resource temporarily unavailable|"
    r"Transport endpoint is not connected|Zero Bytes were transmitted|slurm_receive_msg"
)
_GONE = re.compile(r"Invalid job id|already completing or completed")


class _Transient(Exception):
    """A scheduler command failed in a way worth trying again."""


class SlurmBackend:
    name = "slurm"
    command_timeout_s: ClassVar[float] = 60.0
    command_attempts: ClassVar[int] = 4
    command_wait: ClassVar[wait_base] = wait_exponential(multiplier=1, max=10)
    follow_poll_s: ClassVar[float] = 2.0

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def prepare(self, spec: JobSpec) -> JobSpec:
        self._tool("sbatch")
        return spec.model_copy(update={"working_dir": spec.working_dir or os.getcwd()})

    def submit(self, job: JobRecord) -> JobRecord:
        spec = JobSpec.model_validate(job.spec)
        job.log_dir.mkdir(parents=True, exist_ok=True)
        write_training_spec(spec, job.job_dir)
        script = job.job_dir / SCRIPT_NAME
        write_private(script, render_script(spec, job))  # it exports the spec's env values
        argv = [self._tool("sbatch"), "--parsable", f"--chdir={spec.working_dir}"]
        argv += [f"--output={job.log_dir}/slurm-%j.out", str(script)]
        proc = self._run(argv)
        if proc.returncode != 0:
            message = proc.stderr.strip() or proc.stdout.strip()
            if "submission failed" in message:
                raise InvalidInput(f"sbatch refused the job: {message}")
            raise ServiceUnavailable(f"sbatch failed (exit {proc.returncode}): {message}")
        slurm_id, _, cluster = proc.stdout.strip().partition(";")
        if not slurm_id.isdigit():
            raise ServiceUnavailable(f"sbatch printed {proc.stdout.strip()!r}, not a job id")
        ref = {"slurm_job_id": slurm_id, "cluster": cluster or None}
        return self.store.transition(job.id, JobState.STARTING, backend_ref=ref)

    def refresh(self, job: JobRecord) -> JobRecord:
        slurm_id = job.backend_ref.get("slurm_job_id")
        if slurm_id is None:
            if job.cancel_requested:
                return self.store.advance(job.id, JobState.CANCELLED, reason="cancelled by request")
            if time.time() - job.updated_at > UNSUBMITTED_AFTER_S:
                return self.store.advance(job.id, JobState.FAILED, reason="never reached sbatch")
            return job
        state, code, step = self._sacct(slurm_id)
        if state is None:
            state = self._squeue(slurm_id)
        if state is None:
            if job.cancel_requested:
                return self.store.advance(job.id, JobState.CANCELLED, reason="cancelled by request")
            reason = f"Slurm no longer knows job {slurm_id} (neither squeue nor sacct lists it)"
            return self.store.advance(job.id, JobState.LOST, reason=reason)
        target = map_state(state)
        if target is JobState.FAILED:
            why = EXPLAINED.get(state, f"exit code {code}")
            reason = f"Slurm job {slurm_id} {state}: {why}" + (f"; {step}" if step else "")
            return self.store.advance(job.id, target, reason=reason)
        if target is JobState.CANCELLED:
            who = "by request" if job.cancel_requested else "outside workbench (scancel)"
            return self.store.advance(job.id, target, reason=f"cancelled {who}")
        return self.store.advance(job.id, target)

    def request_cancel(self, job: JobRecord) -> None:
        """``scancel``; Slurm stops the job asynchronously and ``sacct`` then says CANCELLED."""
        slurm_id = job.backend_ref.get("slurm_job_id")
        if slurm_id is None:
            return  # never reached sbatch: refresh finishes it
        proc = self._run([self._tool("scancel"), slurm_id])
        if proc.returncode != 0 and not _GONE.search(proc.stderr):
            raise ServiceUnavailable(f"scancel {slurm_id} failed: {proc.stderr.strip()}")

    def logs(
        self, job: JobRecord, *, rank: int | None, tail: int | None, follow: bool
    ) -> Iterator[LogLine]:
        return read_logs(
            job.log_dir,
            launcher_files=_launcher_files(job),
            rank=rank,
            tail=tail,
            follow=follow,
            finished=lambda: self.refresh(self.store.get(job.id)).state.terminal,
            poll_interval=self.follow_poll_s,
        )

    def log_follower(self, job: JobRecord, *, rank: int | None, tail: int | None) -> LogFollower:
        return LogFollower(job.log_dir, _launcher_files(job), rank=rank, tail=tail)

    # -- talking to Slurm ----------------------------------------------------------------

    def _sacct(self, slurm_id: str) -> tuple[str | None, str | None, str | None]:
        fields = "--format=JobID,State,ExitCode"
        argv = [self._tool("sacct"), "-j", slurm_id, "--parsable2", "--noheader", fields]
        proc = self._run(argv)
        if proc.returncode != 0:  # accounting disabled or down: squeue still knows live jobs
            return None, None, None
        return parse_sacct(proc.stdout, slurm_id)

    def _squeue(self, slurm_id: str) -> str | None:
        proc = self._run([self._tool("squeue"), "-j", slurm_id, "--noheader", "--format=%T"])
        if proc.returncode != 0:
            if _GONE.search(proc.stderr):
                return None
            raise ServiceUnavailable(f"squeue failed: {proc.stderr.strip()}")
        lines = proc.stdout.split()
        return lines[0] if lines else None

    def _run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        retrying = Retrying(
            stop=stop_after_attempt(self.command_attempts),
            wait=self.command_wait,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._run_once(argv)
        except _Transient as exc:
            raise ServiceUnavailable(f"Slurm did not answer: {exc}") from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _run_once(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.command_timeout_s, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise _Transient(f"{argv[0]} took longer than {self.command_timeout_s:g} s") from exc
        if proc.returncode != 0 and _TRANSIENT.search(proc.stderr):
            raise _Transient(proc.stderr.strip())
        return proc

    @staticmethod
    def availability() -> tuple[bool, str]:
        sbatch = shutil.which("sbatch")
        return (sbatch is not None, f"sbatch {sbatch}" if sbatch else _missing("sbatch"))

    @staticmethod
    def _tool(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            raise ServiceUnavailable(_missing(name))
        return path


def _launcher_files(job: JobRecord) -> list[str]:
    slurm_id = job.backend_ref.get("slurm_job_id")
    return [f"slurm-{slurm_id}.out"] if slurm_id else []


def _missing(tool: str) -> str:
    return (
        f"{tool} not found on PATH: run workbench on a Slurm login node "
        "(with the Slurm client commands installed) to use backend 'slurm'"
    )
