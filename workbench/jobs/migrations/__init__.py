"""Alembic migrations of the job store, run in code (no ``alembic.ini``).

:func:`upgrade` brings a store to :data:`HEAD`. A store made before migrations existed
(the ``jobs`` table without an ``alembic_version`` table) is stamped at revision 1 (the
schema it has) and upgraded from there. Several processes may open the store at once (the
server, the CLI, a supervisor per local job), so the upgrade holds an exclusive
``flock`` on ``<db>.lock``; a store already at head is recognised without the lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

HEAD = "0002"
INITIAL = "0001"
SCRIPTS = Path(__file__).resolve().parent


def current_revision(engine: Engine) -> str | None:
    """The store's revision; None when it has no ``alembic_version`` table."""
    with engine.connect() as conn:
        return _revision(conn)


def upgrade(engine: Engine, db_path: Path) -> None:
    """Upgrade the store behind ``engine`` (the sqlite file ``db_path``) to :data:`HEAD`."""
    if current_revision(engine) == HEAD:
        return
    lock_path = db_path.with_name(db_path.name + ".lock")
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # whoever comes second finds the store upgraded
        _upgrade_locked(engine)
    finally:
        os.close(fd)  # releases the lock


def _upgrade_locked(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        if _revision(conn) is None and inspect(conn).has_table("jobs"):
            command.stamp(config, INITIAL)  # made by the pre-migration create_all
        command.upgrade(config, "head")


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)
