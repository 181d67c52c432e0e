"""The MLflow client for the configured store (embedded sqlite by default)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from workbench.config import Settings, get_settings
from workbench.errors import ServiceUnavailable

# The workbench runs on closed networks and never phones home; users may still opt in.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def tracking_client(settings: Settings | None = None) -> MlflowClient:
    """A client on ``settings``' tracking URI; the embedded store's folders are created."""
    settings = settings or get_settings()
    if settings.mlflow_db_path is not None:
        settings.ensure_home()
        settings.mlflow_db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with store_creation_lock(settings.mlflow_db_path):
            client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    except MlflowException as exc:
        raise ServiceUnavailable(
            f"MLflow store {settings.mlflow_tracking_uri} is unusable: {exc.message}"
        ) from exc
    return client


def tracking_ui_url(settings: Settings | None = None) -> str | None:
    """The MLflow server's UI when the tracking URI is one (http or https), credentials
    left out; None for a store without a UI server (the embedded sqlite one)."""
    uri = (settings or get_settings()).mlflow_tracking_uri
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2]  # user:password@ never reaches the browser
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/") + "/", "", ""))


_thread_lock = threading.Lock()


@contextmanager
def store_creation_lock(db: Path | None) -> Iterator[None]:
    """Serialize opening the embedded store across processes and threads: MLflow creates
    and migrates a new sqlite store on first open, and two processes doing that at once
    (the lab server and a training rank on a fresh home) fail the second migration."""
    if db is None:
        yield
        return
    lock_path = db.with_name(f".{db.name}.lock")
    with _thread_lock, open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def refresh_store_statistics(settings: Settings | None = None) -> bool:
    """:func:`refresh_statistics` for the configured store when it is the embedded sqlite
    one; called off the request path: when ``workbench lab`` starts and when a run ends."""
    settings = settings or get_settings()
    db = settings.mlflow_db_path
    return db is not None and refresh_statistics(db)


def refresh_statistics(db: Path, *, growth: float = 2.0, floor: int = 50) -> bool:
    """Give SQLite current table statistics once the store has grown ``growth``-fold.

    Without statistics SQLite joins MLflow's sort-by-metric (or param) subquery by scanning
    it once per run: a page of 10,000 runs sorted by accuracy took ~4 s; with them it builds
    an index for the join and answers in ~30 ms. A sampled ``ANALYZE`` (at most 1,000 rows
    per index: ~2 ms, however long the metric histories) runs when the run count passed
    ``growth`` times the count it last saw. Best effort: a busy or not yet created store is
    left for the next call. True if it ran.
    """
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(db, timeout=0.5)) as con:
            (runs,) = con.execute("SELECT count(*) FROM runs").fetchone()
            seen = 0
            if con.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='sqlite_stat1'"
            ).fetchone():
                row = con.execute("SELECT stat FROM sqlite_stat1 WHERE tbl='runs'").fetchone()
                seen = int(row[0].split()[0]) if row else 0
            if runs < max(floor, growth * seen):
                return False
            con.execute("PRAGMA analysis_limit=1000")  # sampled: ms, whatever the size
            con.execute("ANALYZE")
            con.commit()
            return True
    except sqlite3.Error:
        return False


def experiment_id(client: MlflowClient, name: str, settings: Settings | None = None) -> str:
    """The id of experiment ``name``, created (with artifacts under the workbench home) if new."""
    settings = settings or get_settings()
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if settings.mlflow_db_path is not None and settings.mlflow_artifacts_dir is not None:
        location = Path(settings.mlflow_artifacts_dir, name).resolve().as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:  # created meanwhile by another process
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


@contextmanager
def fluent_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's fluent API (``start_run``, ``log_model``, ``register_model``...) on ``uri``
    for this block only: the process-wide URI and ``MLFLOW_TRACKING_URI`` come back after."""
    import mlflow
    from mlflow.tracking import is_tracking_uri_set

    saved_env = os.environ.get("MLFLOW_TRACKING_URI")
    was_set = is_tracking_uri_set()  # type: ignore[no-untyped-call]
    saved_uri = mlflow.get_tracking_uri() if was_set else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        # None is set_tracking_uri's documented "unset" (it clears the variable too)
        mlflow.set_tracking_uri(saved_uri)  # type: ignore[arg-type]
        if saved_env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_env
