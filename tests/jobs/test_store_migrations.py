"""The job store's schema: Alembic revisions, upgrade of pre-migration stores, file modes."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from workbench.jobs import migrations
from workbench.jobs.states import JobState
from workbench.jobs.store import JobStore, NewJob, jobs_table

# What JobStore's metadata.create_all wrote before migrations existed (sqlite_master).
PRE_MIGRATION_DDL = """
CREATE TABLE jobs (
    id VARCHAR(32) NOT NULL, name VARCHAR(64) NOT NULL, backend VARCHAR(32) NOT NULL,
    state VARCHAR(16) NOT NULL, ranks INTEGER NOT NULL, spec TEXT NOT NULL,
    attempt INTEGER NOT NULL, reason TEXT, exit_codes TEXT, created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL, started_at FLOAT, finished_at FLOAT, job_dir TEXT NOT NULL,
    checkpoint_dir TEXT, supervisor TEXT, backend_ref TEXT, cancel_requested BOOLEAN NOT NULL,
    retry_of VARCHAR(32), PRIMARY KEY (id)
);
CREATE INDEX ix_jobs_created ON jobs (created_at, id);
CREATE INDEX ix_jobs_state ON jobs (state);
"""

OLD_ROWS = [
    ("a1", "mnist", "local", "succeeded", 2, {"name": "mnist"}, 1, None, {"0": 0, "1": 0},
     100.0, 110.0, 101.0, 110.0, "/h/jobs/a1", "/h/jobs/a1/checkpoints",
     {"pid": 7, "started": 1.5}, {"mpiexec": {"pid": 8, "started": 2.5}}, 0, None),
    ("b2", "resnet", "slurm", "running", 8, {"name": "resnet"}, 2,
     "attempt 1 failed: rank 3 exited with code 1; retrying in 1.0 s", None, 200.0, 230.0,
     205.0, None, "/h/jobs/b2", "/scratch/ckpt", None, {"slurm_job_id": "4242"}, 0, None),
    ("c3", "mnist", "kubernetes", "cancelled", 4, {"name": "mnist"}, 1,
     "cancelled by request", None, 300.0, 320.0, None, 320.0, "/h/jobs/c3", None, None,
     {"namespace": "team-a", "name": "wb-mnist-c3"}, 1, "a1"),
]  # fmt: skip


def _write_pre_migration_store(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(PRE_MIGRATION_DDL)
        marks = ", ".join("?" * len(OLD_ROWS[0]))
        for row in OLD_ROWS:
            values = [json.dumps(v, sort_keys=True) if isinstance(v, dict) else v for v in row]
            conn.execute(f"INSERT INTO jobs VALUES ({marks})", values)  # noqa: S608


def test_a_store_from_before_migrations_keeps_every_job_and_field(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    _write_pre_migration_store(path)
    store = JobStore(path)
    assert migrations.current_revision(store.engine) == migrations.HEAD
    assert [j.id for j in store.list()] == ["c3", "b2", "a1"]
    a1, b2, c3 = (store.get(i) for i in ("a1", "b2", "c3"))
    assert (a1.name, a1.backend, a1.state, a1.ranks, a1.spec) == (
        "mnist", "local", JobState.SUCCEEDED, 2, {"name": "mnist"},
    )  # fmt: skip
    assert a1.exit_codes == {0: 0, 1: 0} and a1.supervisor == {"pid": 7, "started": 1.5}
    assert a1.backend_ref == {"mpiexec": {"pid": 8, "started": 2.5}}
    assert (a1.created_at, a1.updated_at, a1.started_at, a1.finished_at) == (100, 110, 101, 110)
    assert (a1.job_dir, a1.checkpoint_dir) == (Path("/h/jobs/a1"), "/h/jobs/a1/checkpoints")
    assert b2.state is JobState.RUNNING and b2.attempt == 2 and b2.reason == OLD_ROWS[1][7]
    assert b2.backend_ref == {"slurm_job_id": "4242"} and b2.exit_codes == {}
    assert c3.cancel_requested is True and c3.retry_of == "a1" and c3.supervisor is None
    assert c3.finished_at == 320.0 and c3.started_at is None
    # the store still works: the upgraded index is there and new jobs can be written
    indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("jobs")}
    assert "ix_jobs_backend_state" in indexes
    store.insert(NewJob("d4", "new", "local", 1, {"name": "new"}, tmp_path / "d4"))
    assert store.count() == 4


def test_a_fresh_store_is_at_head_and_matches_the_table_the_store_queries(
    tmp_path: Path,
) -> None:
    store = JobStore(tmp_path / "jobs.db")
    head = ScriptDirectory(str(migrations.SCRIPTS)).get_current_head()
    assert migrations.current_revision(store.engine) == migrations.HEAD == head
    inspector = inspect(store.engine)
    assert {c["name"] for c in inspector.get_columns("jobs")} == set(jobs_table.c.keys())
    assert {ix["name"] for ix in inspector.get_indexes("jobs")} == {
        str(ix.name) for ix in jobs_table.indexes
    }


def test_two_processes_opening_a_fresh_store_at_once_both_succeed(tmp_path: Path) -> None:
    path, go = tmp_path / "jobs.db", tmp_path / "go"
    opener = textwrap.dedent(f"""
        import os, sys, time
        from pathlib import Path
        from workbench.jobs.store import JobStore, NewJob
        while not os.path.exists({str(go)!r}):  # both start opening at the same moment
            time.sleep(0.001)
        store = JobStore(Path({str(path)!r}))
        store.insert(NewJob(sys.argv[1], "n", "local", 1, {{}}, Path("/tmp") / sys.argv[1]))
        print("ok")
    """)
    argv = [sys.executable, "-c", opener]
    procs = [
        subprocess.Popen(
            [*argv, f"job{i}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    store = JobStore(path)
    assert sorted(j.id for j in store.list()) == ["job0", "job1"]
    assert migrations.current_revision(store.engine) == migrations.HEAD


def test_opening_while_another_process_switches_a_fresh_store_to_wal_waits(
    tmp_path: Path,
) -> None:
    # What two processes opening a fresh store at once do to each other: one holds the write
    # lock of the rollback journal while the other asks for WAL, which SQLite refuses at
    # once ("database is locked"; the busy timeout does not apply). CI hit it on 2 cores.
    path = tmp_path / "jobs.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, other.execute, ["COMMIT"])
    release.start()
    try:
        store = JobStore(path)
    finally:
        release.join()
        other.close()
    store.insert(NewJob("job0", "n", "local", 1, {}, tmp_path / "job0"))
    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert [j.id for j in store.list()] == ["job0"]


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
def test_store_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.insert(NewJob("a1", "n", "local", 1, {}, tmp_path / "a1"))
    files = [store.path, *(store.path.with_name(f"jobs.db{s}") for s in ("-wal", "-shm"))]
    assert all(f.exists() for f in files)
    assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}

    old = tmp_path / "old" / "jobs.db"  # a store an earlier version left world-readable
    old.parent.mkdir()
    _write_pre_migration_store(old)
    old.chmod(0o644)
    JobStore(old).get("a1")
    assert _mode(old) == 0o600
    assert _mode(old.with_name("jobs.db-wal")) == 0o600
