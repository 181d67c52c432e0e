"""JobStore: sqlite in WAL mode, the state machine enforced, safe across processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from workbench.errors import NotFound
from workbench.jobs.states import TRANSITIONS, IllegalTransition, JobState
from workbench.jobs.store import JobStore, NewJob, new_job_id


def new_job(tmp_path: Path, name: str = "demo", backend: str = "local") -> NewJob:
    job_id = new_job_id()
    return NewJob(job_id, name, backend, 2, {"name": name}, tmp_path / job_id)


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(tmp_path / "jobs.db")


def test_sqlite_file_is_in_wal_mode(store: JobStore) -> None:
    store.insert(new_job(store.path.parent))
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_lifecycle_sets_timestamps_reason_and_exit_codes(store: JobStore, tmp_path: Path) -> None:
    job = store.insert(new_job(tmp_path))
    assert job.state is JobState.QUEUED and job.attempt == 1 and job.started_at is None
    store.transition(job.id, JobState.STARTING)
    running = store.transition(job.id, JobState.RUNNING, backend_ref={"mpiexec": {"pid": 1}})
    assert running.started_at is not None and running.backend_ref == {"mpiexec": {"pid": 1}}
    done = store.transition(
        job.id, JobState.FAILED, reason="rank 1 exited 3", exit_codes={0: 0, 1: 3}
    )
    assert done.finished_at is not None and done.finished_at >= running.started_at
    assert done.reason == "rank 1 exited 3" and done.exit_codes == {0: 0, 1: 3}
    assert done.log_dir == tmp_path / job.id / "logs"


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], JobState.RUNNING),  # queued -> running skips starting
        ([], JobState.SUCCEEDED),
        ([JobState.STARTING], JobState.SUCCEEDED),  # nothing ran, so nothing succeeded
        ([JobState.STARTING, JobState.RUNNING, JobState.SUCCEEDED], JobState.RUNNING),
        ([JobState.STARTING, JobState.CANCELLED], JobState.FAILED),  # final is final
        ([JobState.STARTING, JobState.RUNNING, JobState.LOST], JobState.SUCCEEDED),
    ],
)
def test_illegal_transitions_raise_and_change_nothing(
    store: JobStore, tmp_path: Path, path: list[JobState], illegal: JobState
) -> None:
    job = store.insert(new_job(tmp_path))
    for state in path:
        store.transition(job.id, state)
    before = store.get(job.id)
    with pytest.raises(IllegalTransition, match=f"cannot become {illegal}"):
        store.transition(job.id, illegal, reason="should not be written")
    assert store.get(job.id) == before


def test_every_terminal_state_is_final() -> None:
    for state in JobState:
        assert (not TRANSITIONS[state]) == state.terminal


def test_advance_goes_through_running_when_a_poll_missed_it(
    store: JobStore, tmp_path: Path
) -> None:
    job = store.insert(new_job(tmp_path, backend="slurm"))
    store.transition(job.id, JobState.STARTING)
    done = store.advance(job.id, JobState.SUCCEEDED)
    assert done.state is JobState.SUCCEEDED and done.started_at is not None
    assert store.advance(job.id, JobState.RUNNING).state is JobState.SUCCEEDED  # late poll: no-op


def test_claim_supervisor_is_compare_and_set(store: JobStore, tmp_path: Path) -> None:
    job = store.insert(new_job(tmp_path))
    first, second = {"pid": 10, "started": 1.0}, {"pid": 11, "started": 2.0}
    assert store.claim_supervisor(job.id, None, first)
    assert not store.claim_supervisor(job.id, None, second)
    assert store.claim_supervisor(job.id, first, second)
    assert store.get(job.id).supervisor == second


def test_list_filters_orders_and_pages(store: JobStore, tmp_path: Path) -> None:
    jobs = [store.insert(new_job(tmp_path, name=f"j{i}")) for i in range(5)]
    store.transition(jobs[1].id, JobState.STARTING)
    newest_first = [s.name for s in store.list()]
    assert newest_first == ["j4", "j3", "j2", "j1", "j0"]
    assert [s.name for s in store.list(limit=2, offset=1)] == ["j3", "j2"]
    assert [s.id for s in store.list(states=[JobState.STARTING])] == [jobs[1].id]
    assert store.count(states=[JobState.QUEUED]) == 4
    assert [j.id for j in store.active()] == [j.id for j in jobs]


def test_unknown_job(store: JobStore) -> None:
    with pytest.raises(NotFound, match="no job with id 'nope'"):
        store.get("nope")


def test_state_survives_a_new_store_on_the_same_file(store: JobStore, tmp_path: Path) -> None:
    job = store.insert(new_job(tmp_path))
    store.transition(job.id, JobState.STARTING)
    store.close()
    reopened = JobStore(store.path)
    assert reopened.get(job.id).state is JobState.STARTING


def _in_another_process(db: Path, code: str) -> str:
    script = f"from pathlib import Path\nfrom workbench.jobs.store import JobStore\n" \
             f"store = JobStore(Path({str(db)!r}))\n{code}\nstore.close()\n"  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_second_store_in_one_process_keeps_its_writes_visible_to_others(
    store: JobStore, tmp_path: Path
) -> None:
    """A server holds a store; a selection study opens another on the same file; a job's
    supervisor (another process) opens, reads and closes it: what the server writes next
    must still reach other processes (once lost with the WAL the supervisor deleted)."""
    first = store.insert(new_job(tmp_path, "first"))
    JobStore(store.path)  # the second store in this process
    assert _in_another_process(store.path, f"print(store.get({first.id!r}).name)") == "first"
    second = store.insert(new_job(tmp_path, "second"))
    assert _in_another_process(store.path, f"print(store.get({second.id!r}).name)") == "second"


def test_concurrent_writers_in_other_processes_never_write_an_illegal_state(
    store: JobStore, tmp_path: Path
) -> None:
    """Four processes race to finish the same running job; exactly one wins."""
    job = store.insert(new_job(tmp_path))
    store.transition(job.id, JobState.STARTING)
    store.transition(job.id, JobState.RUNNING)
    racer = textwrap.dedent(f"""
        import sys
        from workbench.jobs.states import IllegalTransition, JobState
        from workbench.jobs.store import JobStore
        store = JobStore({str(store.path)!r})
        target = JobState(sys.argv[1])
        try:
            store.transition({job.id!r}, target, reason=sys.argv[1])
            print("won")
        except IllegalTransition:
            print("lost")
    """)
    targets = ["succeeded", "failed", "cancelled", "lost"]
    procs = [
        subprocess.Popen([sys.executable, "-c", racer, t], stdout=subprocess.PIPE, text=True)
        for t in targets
    ]
    results = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(results) == ["lost", "lost", "lost", "won"]
    final = store.get(job.id)
    assert final.reason == final.state.value == targets[results.index("won")]
