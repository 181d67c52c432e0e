"""``JobStore``: every job's state in one sqlite file (WAL) under the workbench home.

Several processes write it at once (the server, the CLI, one supervisor per local job), so
each state change is a compare-and-set: ``UPDATE ... WHERE id = ? AND state = <seen state>``,
checked against :data:`workbench.jobs.states.TRANSITIONS` first. A lost race re-reads and
re-checks, so an illegal transition is never written, whoever wins. All SQL lives here;
the schema is created and changed by the Alembic revisions in :mod:`workbench.jobs.migrations`
(``jobs_table`` below mirrors their head). The file and its ``-wal``/``-shm`` companions
are readable by their owner only (0600), whatever the umask.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
    update,
)
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from workbench.errors import Conflict, InvalidInput, NotFound
from workbench.jobs import migrations
from workbench.jobs.secrets import redact_spec
from workbench.jobs.states import (
    ACTIVE_STATES,
    TRANSITIONS,
    IllegalTransition,
    JobState,
    check_transition,
)

metadata = MetaData()
jobs_table = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("backend", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("ranks", Integer, nullable=False),
    Column("spec", Text, nullable=False),  # JSON of the validated JobSpec
    Column("attempt", Integer, nullable=False, default=1),
    Column("reason", Text),
    Column("exit_codes", Text),  # JSON {rank: code}; a negative code is the killing signal
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("job_dir", Text, nullable=False),
    Column("checkpoint_dir", Text),
    Column("supervisor", Text),  # JSON process identity of the local watcher
    Column("backend_ref", Text),  # JSON: pid/start time, Slurm job id, MPIJob name, ...
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("retry_of", String(32)),
    Index("ix_jobs_created", "created_at", "id"),
    Index("ix_jobs_state", "state"),
    Index("ix_jobs_backend_state", "backend", "state"),
)

_SUMMARY_COLUMNS = (
    *("id", "name", "backend", "state", "ranks", "attempt", "reason"),
    *("created_at", "started_at", "finished_at", "retry_of"),
)
_JSON_FIELDS = ("exit_codes", "supervisor", "backend_ref")
_DECODED = frozenset({*_JSON_FIELDS, "spec", "state", "job_dir"})
_UPDATABLE = {"attempt", "reason", "exit_codes", "started_at", "finished_at", "supervisor"}
_UPDATABLE |= {"backend_ref", "cancel_requested", "checkpoint_dir"}


def new_job_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True, slots=True)
class NewJob:
    """What the service knows about a job before it is stored."""

    id: str
    name: str
    backend: str
    ranks: int
    spec: dict[str, Any]
    job_dir: Path
    checkpoint_dir: str | None = None
    retry_of: str | None = None


@dataclass(frozen=True, slots=True)
class JobSummary:
    """One row of ``list``: no spec, no process details."""

    id: str
    name: str
    backend: str
    state: JobState
    ranks: int
    attempt: int
    reason: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    retry_of: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """Everything stored about one job."""

    id: str
    name: str
    backend: str
    state: JobState
    ranks: int
    spec: dict[str, Any]
    attempt: int
    reason: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    job_dir: Path
    checkpoint_dir: str | None
    cancel_requested: bool
    retry_of: str | None
    exit_codes: dict[int, int] = field(default_factory=dict)
    supervisor: dict[str, Any] | None = None
    backend_ref: dict[str, Any] = field(default_factory=dict)

    @property
    def log_dir(self) -> Path:
        return self.job_dir / "logs"

    def to_dict(self) -> dict[str, Any]:
        """What callers show (REST, ``--json``): env values redacted."""
        data = asdict(self)
        data["spec"] = redact_spec(self.spec)
        data["job_dir"] = str(self.job_dir)
        data["log_dir"] = str(self.log_dir)
        data["exit_codes"] = {str(k): v for k, v in self.exit_codes.items()}
        return data


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _record(row: Any) -> JobRecord:
    data = dict(row._mapping)
    codes = json.loads(data.pop("exit_codes") or "{}")
    return JobRecord(
        **{k: v for k, v in data.items() if k not in _DECODED},
        state=JobState(data["state"]),
        spec=json.loads(data["spec"]),
        job_dir=Path(data["job_dir"]),
        exit_codes={int(k): int(v) for k, v in codes.items()},
        supervisor=json.loads(data["supervisor"]) if data["supervisor"] else None,
        backend_ref=json.loads(data["backend_ref"] or "{}"),
    )


def _summary(row: Any) -> JobSummary:
    id_, name, backend, state, ranks, attempt, reason, created, started, finished, retry_of = row
    return JobSummary(
        id_, name, backend, JobState(state), ranks, attempt, reason, created, started, finished,
        retry_of,
    )  # fmt: skip


DB_MODE = 0o600


def _owner_only(path: Path) -> None:
    """Create ``path`` if missing; either way leave it mode 0600 (umask does not apply).

    An existing store is chmod-ed by name, never opened: closing any descriptor of the file
    drops every POSIX lock this process holds on it, SQLite's included. Another process
    would then take itself for the store's last user and delete the WAL that this process's
    open connections still write to: their writes vanish for everyone else ("no job with
    id ...", "disk I/O error"). It happened whenever a second store was opened in a server
    that already had one (a selection study's trial jobs).
    """
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, DB_MODE)
    except FileExistsError:
        os.chmod(path, DB_MODE)
        return
    os.close(fd)  # new: no connection of this process has it open yet


def _database_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


@retry(
    retry=retry_if_exception(_database_locked),
    wait=wait_exponential(multiplier=0.005, max=0.25),
    stop=stop_after_delay(30),
    reraise=True,
)
def _enable_wal(cursor: Any) -> None:
    """Put the store in WAL mode, waiting out other processes that are doing the same.

    Switching a fresh file from the rollback journal to WAL upgrades a read lock to a write
    lock, and SQLite answers a second process racing to do the same with an immediate
    "database is locked": the busy timeout does not apply there (it would deadlock). The
    failed statement holds nothing, and the winner's switch is persistent, so trying again
    finds the store in WAL mode already.
    """
    cursor.execute("PRAGMA journal_mode=WAL")


class JobStore:
    """The job table in ``path`` (migrated to head on open, WAL mode, safe across processes)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _owner_only(self.path)
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}", connect_args={"timeout": 30, "check_same_thread": False}
        )
        event.listen(self.engine, "connect", self._on_connect)
        migrations.upgrade(self.engine, self.path)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _enable_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        for suffix in ("-wal", "-shm"):  # sqlite made them on the first WAL connection
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists() and companion.stat().st_mode & 0o777 != DB_MODE:
                companion.chmod(DB_MODE)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------

    def insert(self, job: NewJob) -> JobRecord:
        self.insert_many([job])
        return self.get(job.id)

    def insert_many(self, new_jobs: Sequence[NewJob]) -> None:
        now = time.time()
        rows = [
            {
                "id": j.id,
                "name": j.name,
                "backend": j.backend,
                "state": JobState.QUEUED.value,
                "ranks": j.ranks,
                "spec": json.dumps(j.spec, sort_keys=True),
                "attempt": 1,
                "created_at": now,
                "updated_at": now,
                "job_dir": str(j.job_dir),
                "checkpoint_dir": j.checkpoint_dir,
                "cancel_requested": False,
                "retry_of": j.retry_of,
            }
            for j in new_jobs
        ]
        with self.engine.begin() as conn:
            conn.execute(jobs_table.insert(), rows)

    def transition(self, job_id: str, target: JobState, **fields: Any) -> JobRecord:
        """Move ``job_id`` to ``target`` (raises IllegalTransition) and set ``fields``."""
        values = self._values(fields)
        for _ in range(20):
            current = self.get(job_id)
            check_transition(job_id, current.state, target)
            now = time.time()
            row = {**values, "state": target.value, "updated_at": now}
            if target is JobState.RUNNING and current.started_at is None:
                row.setdefault("started_at", now)
            if target.terminal:
                row.setdefault("finished_at", now)
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(jobs_table)
                    .where(jobs_table.c.id == job_id, jobs_table.c.state == current.state.value)
                    .values(**row)
                )
            if result.rowcount == 1:
                return self.get(job_id)
        raise Conflict(f"job {job_id} kept changing state; try again")

    def advance(self, job_id: str, target: JobState, **fields: Any) -> JobRecord:
        """Move to a state a scheduler reported, via ``running`` if the poll missed it.

        No-op when the job is already there or final (a scheduler lagging behind a cancel).
        """
        current = self.get(job_id)
        if current.state is target or current.state.terminal:
            return current
        if current.state is JobState.CANCELLING and not target.terminal:
            return current  # asked to stop; the scheduler has not seen it end yet
        try:
            if target not in TRANSITIONS[current.state] and target in TRANSITIONS[JobState.RUNNING]:
                self.transition(job_id, JobState.RUNNING)
            return self.transition(job_id, target, **fields)
        except IllegalTransition:  # someone else moved it on meanwhile; theirs stands
            return self.get(job_id)

    def update(self, job_id: str, **fields: Any) -> JobRecord:
        """Set non-state ``fields`` (attempt, reason, backend_ref, ...)."""
        values = {**self._values(fields), "updated_at": time.time()}
        with self.engine.begin() as conn:
            result = conn.execute(
                update(jobs_table).where(jobs_table.c.id == job_id).values(**values)
            )
        if result.rowcount != 1:
            raise NotFound(f"no job with id {job_id!r}")
        return self.get(job_id)

    def claim_supervisor(
        self, job_id: str, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> bool:
        """Set the supervisor to ``new`` only if it is still ``old``; True when this won."""
        column = jobs_table.c.supervisor
        cond = column.is_(None) if old is None else column == _dumps(old)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(jobs_table)
                .where(jobs_table.c.id == job_id, cond)
                .values(supervisor=_dumps(new), updated_at=time.time())
            )
        return bool(result.rowcount == 1)

    def begin_cancel(self, job_id: str) -> JobRecord:
        """``cancelling`` with ``cancel_requested`` set, in one write (raises IllegalTransition)."""
        current = self.get(job_id)
        if current.state is JobState.CANCELLING:
            return current
        return self.transition(job_id, JobState.CANCELLING, cancel_requested=True)

    @staticmethod
    def _values(fields: dict[str, Any]) -> dict[str, Any]:
        unknown = set(fields) - _UPDATABLE
        if unknown:
            raise InvalidInput(f"job fields {sorted(unknown)} cannot be updated")
        values = dict(fields)
        for name in _JSON_FIELDS:
            if name in values:
                value = values[name]
                if name == "exit_codes" and value is not None:
                    value = {str(k): int(v) for k, v in value.items()}
                values[name] = _dumps(value)
        return values

    # -- reading -------------------------------------------------------------------------

    def find(self, job_id: str) -> JobRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
        return None if row is None else _record(row)

    def get(self, job_id: str) -> JobRecord:
        record = self.find(job_id)
        if record is None:
            raise NotFound(f"no job with id {job_id!r}")
        return record

    def cancel_requested(self, job_id: str) -> bool:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(jobs_table.c.cancel_requested).where(jobs_table.c.id == job_id)
            ).scalar()
        return bool(value)

    def list(
        self,
        *,
        states: Iterable[JobState] | None = None,
        backend: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[JobSummary]:
        """Newest first; ``limit=None`` returns every match."""
        columns = [jobs_table.c[name] for name in _SUMMARY_COLUMNS]
        query = select(*columns).order_by(jobs_table.c.created_at.desc(), jobs_table.c.id.desc())
        query = self._filtered(query, states, backend).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_summary(row) for row in rows]

    def count(self, *, states: Iterable[JobState] | None = None, backend: str | None = None) -> int:
        query = self._filtered(select(func.count()).select_from(jobs_table), states, backend)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def active(
        self, backend: str | None = None, *, exclude_backend: str | None = None
    ) -> builtins.list[JobRecord]:
        query = self._filtered(select(jobs_table), ACTIVE_STATES, backend)
        if exclude_backend is not None:
            query = query.where(jobs_table.c.backend != exclude_backend)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query.order_by(jobs_table.c.created_at))]

    @staticmethod
    def _filtered(query: Any, states: Iterable[JobState] | None, backend: str | None) -> Any:
        if states is not None:
            query = query.where(jobs_table.c.state.in_([s.value for s in states]))
        if backend is not None:
            query = query.where(jobs_table.c.backend == backend)
        return query
