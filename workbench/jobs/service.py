"""The jobs service: the one API the server, the magics and the CLI call.

    service = JobService()                  # re-attaches to live jobs, marks dead ones
    job = service.submit({"name": "mnist", "entry": {"kind": "script", "path": "train.py"},
                          "ranks": 2})
    service.wait(job.id); print(service.get(job.id).state)
    for line in service.logs(job.id, tail=20, follow=True): print(line)

``get`` and ``list`` only read the store: they never wait for a scheduler. The store is kept
current by each local job's supervisor and, for the rest, by whoever refreshes: the server's
:class:`~workbench.jobs.refresher.JobRefresher` (``refresh_active`` every few seconds), or
a caller that asks for one job with ``refresh(job_id)`` (``wait`` does, as the CLI does when
no server is running). ``cancel`` answers at once with the ``cancelling`` record; the job is
seen ending (``cancelled``) by the same refreshing.

Malformed specs raise :class:`~workbench.jobs.spec.InvalidSpec` (an ``InvalidInput``) before
anything is stored. Retries: ``spec.retries`` failed attempts are retried with exponential
backoff where the job runs (local supervisor, the sbatch script's loop, the MPIJob's
``backoffLimit``); :meth:`JobService.retry` re-runs a finished job as a new one that shares
its checkpoint directory, so an entry that follows :mod:`workbench.jobs.checkpoints` resumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from workbench.config import Settings, get_settings
from workbench.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable, WorkbenchError
from workbench.jobs.backends import Backend, create_backend
from workbench.jobs.confine import confine_to
from workbench.jobs.logs import Follower, LogLine
from workbench.jobs.spec import JobSpec, parse_spec
from workbench.jobs.states import IllegalTransition, JobState
from workbench.jobs.store import JobRecord, JobStore, JobSummary, NewJob, new_job_id

log = logging.getLogger(__name__)
MAX_LIST_LIMIT = 100_000


class JobService:
    def __init__(
        self,
        store: JobStore | None = None,
        *,
        settings: Settings | None = None,
        backends: Mapping[str, Backend] | None = None,
        recover: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.settings.ensure_home()
        assert self.settings.jobs_db is not None  # filled in by Settings
        self.store = store or JobStore(self.settings.jobs_db)
        self.jobs_root = self.settings.home / "jobs"
        self._backends: dict[str, Backend] = dict(backends or {})
        if recover:  # re-attach to live jobs, mark the ones that died while no one watched
            self.refresh_active()

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = create_backend(name, self.store, self.settings)
        return self._backends[name]

    # -- submitting -----------------------------------------------------------------------

    def submit(self, spec: Mapping[str, Any] | JobSpec, *, root: Path | None = None) -> JobRecord:
        """Validate, store and launch a job; returns it (``starting`` or later).

        ``root``: every path in the spec must stay under it (see :mod:`workbench.jobs.confine`;
        the REST API passes the Jupyter root); without it the paths are taken as given.
        """
        if root is not None:  # a built JobSpec too: its training spec's paths are checked
            raw = spec.model_dump(mode="json") if isinstance(spec, JobSpec) else spec
            spec = confine_to(raw, root)
        parsed = parse_spec(spec)
        check_training_entry(parsed)
        prepared = self.backend(parsed.backend).prepare(parsed)
        return self._launch(prepared, checkpoint_dir=None, retry_of=None)

    def retry(self, job_id: str) -> JobRecord:
        """Run a finished job again as a new job that resumes from its checkpoints."""
        old = self.store.get(job_id)
        if not old.state.terminal:
            raise Conflict(f"job {job_id} is {old.state}; only a finished job can be retried")
        spec = parse_spec(old.spec)
        prepared = self.backend(spec.backend).prepare(spec)
        return self._launch(prepared, checkpoint_dir=old.checkpoint_dir, retry_of=old.id)

    def _launch(
        self, spec: JobSpec, *, checkpoint_dir: str | None, retry_of: str | None
    ) -> JobRecord:
        job_id = new_job_id()
        job_dir = self.jobs_root / job_id
        if checkpoint_dir is None:
            checkpoint_dir = _checkpoint_dir(spec, job_dir)
        job_dir.mkdir(parents=True, mode=0o700)
        record = self.store.insert(
            NewJob(
                id=job_id,
                name=spec.name,
                backend=spec.backend,
                ranks=spec.ranks,
                spec=spec.model_dump(mode="json"),
                job_dir=job_dir,
                checkpoint_dir=checkpoint_dir,
                retry_of=retry_of,
            )
        )
        try:
            return self.backend(spec.backend).submit(record)
        except Exception as exc:
            self._mark_failed(record.id, f"submission failed: {exc}")
            raise

    def _mark_failed(self, job_id: str, reason: str) -> None:
        try:
            self.store.transition(job_id, JobState.FAILED, reason=reason)
        except IllegalTransition:
            log.warning("job %s could not be marked failed (%s): already final", job_id, reason)

    # -- looking ----------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord:
        """The job as stored (see :meth:`refresh` to ask its backend first)."""
        return self.store.get(job_id)

    def refresh(self, job_id: str) -> JobRecord:
        """Ask an active job's backend how it is doing, store and return the answer."""
        record = self.store.get(job_id)
        if record.state.terminal:
            return record
        return self.backend(record.backend).refresh(record)

    def refresh_active(self) -> int:
        """Refresh every active job once; a job whose backend fails is logged and skipped.

        Returns how many jobs were refreshed. Local jobs are cheap (their supervisor keeps
        them current; this notices a dead supervisor); remote ones ask the scheduler.
        """
        done = 0
        for record in self.store.active():
            try:
                self.backend(record.backend).refresh(record)
                done += 1
            except WorkbenchError as exc:
                log.warning("could not refresh job %s (%s): %s", record.id, record.backend, exc)
            except Exception:  # one broken job must not stop the others being refreshed
                log.exception("refreshing job %s (%s) failed", record.id, record.backend)
        return done

    def list(
        self,
        *,
        state: str | JobState | None = None,
        backend: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[JobSummary]:
        """Newest first, as stored."""
        states = None if state is None else [_state(state)]
        if limit is not None and not 1 <= limit <= MAX_LIST_LIMIT:
            raise InvalidInput(f"limit: must be between 1 and {MAX_LIST_LIMIT} (got {limit})")
        if offset < 0:
            raise InvalidInput(f"offset: must be >= 0 (got {offset})")
        return self.store.list(states=states, backend=backend, limit=limit, offset=offset)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.1) -> JobRecord:
        """Block until the job is final (or ``timeout`` passes); returns the latest record.

        Refreshes the job itself, so it works with no server (and no refresher) running.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            record = self.refresh(job_id)
            if record.state.terminal or (deadline is not None and time.monotonic() >= deadline):
                return record
            time.sleep(poll)

    def logs(
        self,
        job_id: str,
        *,
        rank: int | None = None,
        tail: int | None = None,
        follow: bool = False,
    ) -> Iterator[LogLine]:
        """Each rank's output, tagged; ``tail`` lines per file; ``follow`` until the end."""
        record = self._log_request(job_id, rank, tail)
        return self.backend(record.backend).logs(record, rank=rank, tail=tail, follow=follow)

    def log_follower(
        self, job_id: str, *, rank: int | None = None, tail: int | None = None
    ) -> Follower:
        """:meth:`logs` for a caller that polls: ``read()`` never waits (see
        :class:`~workbench.jobs.logs.LogFollower`); the caller decides when the job is over
        (``get(job_id).state.terminal``) and then reads once more with ``final=True``."""
        record = self._log_request(job_id, rank, tail)
        return self.backend(record.backend).log_follower(record, rank=rank, tail=tail)

    def _log_request(self, job_id: str, rank: int | None, tail: int | None) -> JobRecord:
        record = self.store.get(job_id)
        if rank is not None and not 0 <= rank < record.ranks:
            raise InvalidInput(f"rank: must be between 0 and {record.ranks - 1} (got {rank})")
        if tail is not None and tail < 0:
            raise InvalidInput(f"tail: must be >= 0 (got {tail})")
        return record

    # -- stopping ---------------------------------------------------------------------------

    def cancel(self, job_id: str) -> JobRecord:
        """Mark the job ``cancelling``, tell its backend to stop it, return at once.

        The job becomes ``cancelled`` (or how it ended meanwhile) when its supervisor or a
        refresh sees it end; ``wait`` for that. Cancelling a ``cancelling`` job asks the
        backend again (e.g. after ``scancel`` failed).
        """
        try:
            record = self.store.begin_cancel(job_id)
        except IllegalTransition as exc:
            raise Conflict(f"job {job_id} already {exc.current}; nothing to cancel") from None
        try:
            self.backend(record.backend).request_cancel(record)
        except ServiceUnavailable as exc:
            raise ServiceUnavailable(
                f"job {job_id} is cancelling, but telling {record.backend} to stop it failed: "
                f"{exc}; cancel it again to retry"
            ) from exc
        return self.store.get(job_id)


def check_training_entry(spec: JobSpec) -> None:
    """A training entry's spec gets its full check (model, hyper-parameters, data) here,
    before anything is stored or started, however the job was submitted."""
    if spec.entry.kind != "training":
        return
    from workbench.training.spec import check_spec
    from workbench.training.spec import parse_spec as parse_training_spec

    base = Path(spec.working_dir) if spec.working_dir else None
    try:
        check_spec(parse_training_spec(spec.entry.spec), base=base)
    except (InvalidInput, NotFound) as exc:
        raise InvalidInput(f"entry.spec: {exc}") from exc


def _state(value: str | JobState) -> JobState:
    try:
        return JobState(value)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise InvalidInput(f"state: must be one of {names} (got {value!r})") from None


def _checkpoint_dir(spec: JobSpec, job_dir: Path) -> str:
    if spec.checkpoint_dir and spec.working_dir:
        return str(Path(spec.working_dir) / spec.checkpoint_dir)
    return str(job_dir / "checkpoints")
