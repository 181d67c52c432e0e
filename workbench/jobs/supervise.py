"""The watcher of one local job: ``python -m workbench.jobs.supervise --db DB [--adopt] JOB``.

Started detached by :class:`~workbench.jobs.backends.local.LocalBackend`. It runs each
attempt (``mpiexec`` in a session of its own), marks the job running, polls for a cancel
request and the timeout, retries failed attempts with exponential backoff (tenacity) and
writes the final state, reason and per-rank exit codes. ``--adopt`` takes over a job whose
supervisor died while its ``mpiexec`` still runs (the exit records tell how it ended).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import psutil
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from workbench.jobs.backends.launch import entry_argv, rank_env
from workbench.jobs.backends.local import CANCEL_GRACE_S, child_env, find_mpiexec, mpiexec_argv
from workbench.jobs.backends.rank_exits import (
    MPIEXEC_LOG,
    Outcome,
    attempt_outcome,
    clear_exit_records,
    read_exit_records,
)
from workbench.jobs.processes import ProcessId, session_members, terminate_session
from workbench.jobs.spec import JobSpec
from workbench.jobs.states import IllegalTransition, JobState
from workbench.jobs.store import JobRecord, JobStore

POLL_S = 0.1
MAX_BACKOFF_S = 600.0


@dataclass
class _Launch:
    """One running ``mpiexec``: our child, or an adopted one we can only watch."""

    ident: ProcessId
    proc: subprocess.Popen[bytes] | None = None
    returncode: int | None = None

    def finished(self, timeout: float) -> bool:
        if self.proc is not None:
            try:
                self.returncode = self.proc.wait(timeout)
                return True
            except subprocess.TimeoutExpired:
                return False
        if session_members(self.ident):
            time.sleep(timeout)
            return False
        return True


class Supervisor:
    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store = store
        self.job_id = job_id
        job = store.get(job_id)
        self.spec = JobSpec.model_validate(job.spec)
        self.job = job
        self.attempt = job.attempt
        timeout = self.spec.timeout_s
        self.deadline = None if timeout is None else (job.started_at or time.time()) + timeout
        self.adopted: _Launch | None = None

    # -- the retry loop -----------------------------------------------------------------

    def run(self) -> JobRecord:
        if self.store.get(self.job_id).state.terminal:
            return self.store.get(self.job_id)
        remaining = self.spec.retries + 2 - self.attempt
        retrying = Retrying(
            stop=stop_after_attempt(max(1, remaining)),
            wait=wait_exponential(multiplier=self.spec.retry_backoff_s, max=MAX_BACKOFF_S),
            retry=retry_if_result(lambda outcome: bool(outcome.retriable)),
            sleep=self._sleep,
            before_sleep=self._before_retry,
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        outcome: Outcome = retrying(self._attempt)
        return self._finish(outcome)

    def _sleep(self, seconds: float) -> None:
        """Back off, but wake up at once for a cancel request or the deadline."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._cancelled() and not self._timed_out():
            time.sleep(min(POLL_S, max(0.0, end - time.monotonic())))

    def _before_retry(self, state: RetryCallState) -> None:
        outcome: Outcome = state.outcome.result() if state.outcome else Outcome(JobState.FAILED, "")
        wait = state.upcoming_sleep
        reason = f"attempt {self.attempt} failed: {outcome.reason}; retrying in {wait:.1f} s"
        self.attempt += 1
        fields = {"attempt": self.attempt, "reason": reason, "exit_codes": outcome.exit_codes}
        try:
            self.store.transition(self.job_id, JobState.STARTING, **fields)
        except IllegalTransition:  # still starting (the attempt never ran), or finished
            if not self.store.get(self.job_id).state.terminal:
                self.store.update(self.job_id, **fields)

    def _finish(self, outcome: Outcome) -> JobRecord:
        try:
            return self.store.transition(
                self.job_id, outcome.state, reason=outcome.reason, exit_codes=outcome.exit_codes
            )
        except IllegalTransition:  # the service finished it first (e.g. a cancel)
            return self.store.get(self.job_id)

    # -- one attempt --------------------------------------------------------------------

    def _attempt(self) -> Outcome:
        if self._cancelled() or self._timed_out():
            if self.adopted is not None:  # an adopted mpiexec still runs: stop it first
                terminate_session(self.adopted.ident, CANCEL_GRACE_S)
                self.adopted = None
            if self._cancelled():
                return Outcome(JobState.CANCELLED, "cancelled by request", self._exit_codes())
            return self._timeout_outcome()
        launch, self.adopted = self.adopted or self._launch(), None
        if launch is None:
            return Outcome(JobState.CANCELLED, "cancelled by request")
        why = self._watch(launch)
        terminate_session(launch.ident, grace_s=2.0)  # ranks that outlived mpiexec
        if why == "cancelled":
            return Outcome(JobState.CANCELLED, "cancelled by request", self._exit_codes())
        if why == "timeout":
            return self._timeout_outcome()
        return attempt_outcome(self.job.log_dir, self.spec.ranks, launch.returncode)

    def _exit_codes(self) -> dict[int, int]:
        return {r: e.returncode for r, e in read_exit_records(self.job.log_dir).items()}

    def _timeout_outcome(self) -> Outcome:
        reason = f"timed out after {self.spec.timeout_s:g} s (timeout_s)"
        return Outcome(JobState.FAILED, reason, self._exit_codes())

    def _launch(self) -> _Launch | None:
        """Start this attempt's mpiexec and mark the job running (None: it was cancelled)."""
        launch = self._start_mpiexec()
        ref = {"mpiexec": launch.ident.to_dict()}
        try:
            self.store.transition(
                self.job_id, JobState.RUNNING, attempt=self.attempt, backend_ref=ref
            )
        except IllegalTransition:  # cancelled while we were starting it
            terminate_session(launch.ident, CANCEL_GRACE_S)
            launch.finished(5.0)
            return None
        return launch

    def _start_mpiexec(self) -> _Launch:
        job, spec = self.job, self.spec
        mpiexec = find_mpiexec()
        if mpiexec is None:
            raise RuntimeError("mpiexec disappeared since the job was submitted")
        checkpoint_dir = job.checkpoint_dir or str(job.job_dir / "checkpoints")
        Path(checkpoint_dir).mkdir(parents=True, exist_ok=True)
        wrapper = [sys.executable, "-m", "workbench.jobs.rank_wrapper"]
        argv = [*mpiexec_argv(mpiexec, spec.ranks), *wrapper, "--log-dir", str(job.log_dir)]
        argv += ["--", *entry_argv(spec, sys.executable, job.job_dir)]
        env = child_env(rank_env(spec, job.id, self.attempt, checkpoint_dir))
        # ranks share this machine's cores: don't let each start a thread per core
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // spec.ranks)))
        clear_exit_records(job.log_dir)
        with open(job.log_dir / MPIEXEC_LOG, "ab") as log:
            log.write(f"--- workbench: attempt {self.attempt}: {shlex.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                argv,
                cwd=spec.working_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            ident = ProcessId.of(proc.pid)
        except psutil.Error:  # already gone: it failed at once, the log says why
            ident = ProcessId(proc.pid, time.time())
        return _Launch(ident, proc)

    def _watch(self, launch: _Launch) -> str | None:
        """Wait for mpiexec; stop the session on a cancel request or at the deadline."""
        while not launch.finished(POLL_S):
            for why, hit in (("cancelled", self._cancelled), ("timeout", self._timed_out)):
                if hit():
                    terminate_session(launch.ident, CANCEL_GRACE_S)
                    launch.finished(5.0)
                    return why
        return None

    def _cancelled(self) -> bool:
        return self.store.cancel_requested(self.job_id)

    def _timed_out(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline

    # -- taking over ----------------------------------------------------------------------

    def adopt(self) -> JobRecord | None:
        """Claim a job whose supervisor died; None when another process claimed it first."""
        me = ProcessId.of(psutil.Process().pid).to_dict()
        if not self.store.claim_supervisor(self.job_id, self.job.supervisor, me):
            return None
        launcher = self.job.backend_ref.get("mpiexec")
        if launcher:
            self.adopted = _Launch(ProcessId.from_dict(launcher))
        return self.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.jobs.supervise")
    parser.add_argument("--db", type=Path, required=True, help="the job store's sqlite file")
    parser.add_argument("--adopt", action="store_true", help="take over a running job")
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    store = JobStore(args.db)
    supervisor = Supervisor(store, args.job_id)
    try:
        supervisor.adopt() if args.adopt else supervisor.run()
    except Exception as exc:
        traceback.print_exc()
        _fail(store, args.job_id, f"supervisor error: {exc}")
        return 1
    return 0


def _fail(store: JobStore, job_id: str, reason: str) -> None:
    """Last resort: stop whatever the job started and record why."""
    job = store.get(job_id)
    launcher = job.backend_ref.get("mpiexec")
    if launcher:
        terminate_session(ProcessId.from_dict(launcher), CANCEL_GRACE_S)
    with contextlib.suppress(IllegalTransition):  # already final: keep that state
        store.transition(job_id, JobState.FAILED, reason=reason)


if __name__ == "__main__":
    sys.exit(main())
