"""Stall detection: a watchdog thread per engine that sees ranks waiting on each other.

The engine tells the watchdog when it enters and leaves each collective. Once a second
the watchdog publishes this rank's state to a status board (one small JSON file per rank
in a directory every local rank can read) and checks:

- a peer process on this host has died while this rank waits in a collective: print a
  ``StallError`` naming the dead rank and the tensor, and end this process (exit 75), so
  no rank hangs in a collective that can never finish; the launcher then stops the rest;
- this rank has waited in one collective for ``WORKBENCH_STALL_WARNING`` seconds (default
  60): log a warning naming the tensor and what every other rank is doing (which ranks did
  not submit it);
- it has waited ``WORKBENCH_STALL_TIMEOUT`` seconds (default 0: never): abort likewise.

The watchdog makes no MPI calls (the waiting thread holds the engine's lock), so it cannot
raise into the blocked call: aborting the process is the way out. Peers on other hosts are
seen only through the board or the launcher.

Boards live in a directory private to the user (:func:`runtime_dir`: mode 0700, checked to
be ours), their files are 0600, and the sweep of stale boards looks only there, never at
other users' files in the shared temp dir.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import socket
import stat
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.engine.errors import UnsafeDirectoryError

STALL_WARNING_ENV = "WORKBENCH_STALL_WARNING"
STALL_TIMEOUT_ENV = "WORKBENCH_STALL_TIMEOUT"
DEFAULT_WARNING_S = 60.0
STALL_EXIT_CODE = 75
log = logging.getLogger("workbench.engine.stall")


@dataclass(frozen=True)
class Peer:
    rank: int
    host: str
    pid: int


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal check above is all we have
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _seconds_from_env(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from exc


class StallWatchdog:
    """Watches this rank's collectives; see the module docstring."""

    def __init__(
        self,
        rank: int,
        peers: list[Peer],
        board: Path,
        *,
        warning_s: float | None = None,
        timeout_s: float | None = None,
        interval_s: float = 1.0,
    ) -> None:
        self.rank, self.peers, self.board = rank, peers, board
        self.warning_s = _seconds_from_env(STALL_WARNING_ENV, DEFAULT_WARNING_S)
        self.timeout_s = _seconds_from_env(STALL_TIMEOUT_ENV, 0.0)
        if warning_s is not None:
            self.warning_s = warning_s
        if timeout_s is not None:
            self.timeout_s = timeout_s
        self.interval_s = interval_s
        self._current: tuple[Any, float] | None = None  # (collective, since)
        self._patient = False
        self._last: tuple[str, float] = ("", time.time())
        self._warned: tuple[str, float] | None = None
        self._stop = threading.Event()
        if rank == 0:
            sweep_stale_boards(socket.gethostname())
        self.board.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._loop, name="workbench-stall", daemon=True)
        self._thread.start()
        atexit.register(self._remove_status)

    # -- called by the engine -----------------------------------------------------------
    def enter(self, what: Any, *, patient: bool = False) -> None:
        """``what``: a ``CallDescriptor`` or text; described only when reported (cheap).
        ``patient``: a wait that may rightly last (a joined rank waiting for the others):
        no warning, no timeout; a dead peer still ends it."""
        self._current = (what, time.time())
        self._patient = patient

    def leave(self) -> None:
        if self._current is not None:
            self._last = (self._current[0], time.time())
        self._current = None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._remove_status()

    def _remove_status(self) -> None:
        self._status_path(self.rank).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the last rank out removes the empty board
            self.board.rmdir()

    # -- the thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._publish()
            self.check()

    def check(self) -> None:
        """One round of the checks (the thread calls it every ``interval_s``)."""
        current = self._current
        if current is None:
            return
        what, since = describe(current[0]), current[1]
        waited = time.time() - since
        here = socket.gethostname()
        dead = [p for p in self.peers if p.host == here and not process_alive(p.pid)]
        if dead and waited >= self.interval_s:  # a peer that just finished is not a stall
            names = ", ".join(f"rank {p.rank} (pid {p.pid})" for p in dead)
            for peer in dead:  # a killed rank could not remove its own status
                self._status_path(peer.rank).unlink(missing_ok=True)
            self._abort(f"{names} died while rank {self.rank} waited in {what}")
        if self._patient:
            return
        if self.timeout_s > 0 and waited >= self.timeout_s:
            self._abort(
                f"rank {self.rank} waited {waited:.0f}s in {what} "
                f"(WORKBENCH_STALL_TIMEOUT={self.timeout_s:g}):\n{self.report(what)}"
            )
        if waited >= self.warning_s and self._warned != current:
            self._warned = current
            log.warning(
                "stall: rank %d has waited %.0fs in %s; the other ranks:\n%s\n"
                "Every rank must submit the same collectives (a rank skipped it, is slow, "
                "or is stuck elsewhere). Set %s to abort after N seconds.",
                self.rank,
                waited,
                what,
                self.report(what),
                STALL_TIMEOUT_ENV,
            )

    def report(self, what: str) -> str:
        """What every other rank is doing, from the status board."""
        lines = []
        now = time.time()
        for peer in self.peers:
            if peer.rank == self.rank:
                continue
            status = self._read(peer.rank)
            if status is None:
                lines.append(f"  rank {peer.rank} ({peer.host}): no status (other host?)")
            elif status.get("in") == what:
                lines.append(f"  rank {peer.rank}: waiting in the same collective")
            elif status.get("in"):
                ago = now - float(status["since"])
                lines.append(
                    f"  rank {peer.rank}: did not submit it; waiting in {status['in']} "
                    f"for {ago:.0f}s"
                )
            else:
                ago = now - float(status["last_end"])
                last = status.get("last") or "none yet"
                lines.append(
                    f"  rank {peer.rank}: did not submit it; in no collective for {ago:.0f}s "
                    f"(last: {last})"
                )
        return "\n".join(lines)

    def _abort(self, message: str) -> None:
        self._remove_status()  # os._exit runs no atexit handlers
        sys.stdout.flush()
        sys.stderr.write(f"workbench.engine.errors.StallError: {message}\n")
        sys.stderr.flush()
        os._exit(STALL_EXIT_CODE)

    def _status_path(self, rank: int) -> Path:
        return self.board / f"rank{rank}.json"

    def _publish(self) -> None:
        current = self._current
        status: dict[str, Any] = {"pid": os.getpid(), "time": time.time()}
        status["in"] = describe(current[0]) if current else None
        status["since"] = current[1] if current else None
        status["last"], status["last_end"] = describe(self._last[0]), self._last[1]
        tmp = self._status_path(self.rank).with_suffix(f".{os.getpid()}.tmp")
        try:
            _write_private(tmp, json.dumps(status))
            tmp.replace(self._status_path(self.rank))
        except OSError as exc:  # a full or vanished temp dir must not end the thread
            log.debug("stall board %s not written: %s", self.board, exc)

    def _read(self, rank: int) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self._status_path(rank).read_text())
        except (OSError, ValueError):
            return None
        return data


def describe(what: Any) -> str:
    return str(what.describe()) if hasattr(what, "describe") else str(what)


RUNTIME_SUBDIR = "workbench-stall"
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def runtime_dir() -> Path:
    """This user's directory for status boards, created 0700 and checked to be ours.

    ``$XDG_RUNTIME_DIR/workbench-stall`` when that variable names a directory of ours that
    no one else may write, else ``<tempdir>/workbench-<uid>/stall``. Raises
    :class:`UnsafeDirectoryError` when the directory exists but belongs to someone else or
    others may write to it (another user could otherwise plant or read boards).
    """
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and _is_private(Path(xdg)):
        return _private_dir(Path(xdg) / RUNTIME_SUBDIR)
    user_dir = _private_dir(Path(tempfile.gettempdir()) / f"workbench-{os.getuid()}")
    return _private_dir(user_dir / "stall")


def _is_private(path: Path) -> bool:
    try:
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def _private_dir(path: Path) -> Path:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR_MODE)
    if not _is_private(path):
        raise UnsafeDirectoryError(
            f"{path} must be a directory owned by uid {os.getuid()} that no one else may "
            "write (not a symlink); remove it or set XDG_RUNTIME_DIR to a private directory"
        )
    return path


def _write_private(path: Path, text: str) -> None:
    """Create ``path`` (0600 whatever the umask; a symlink there is not followed)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def board_directory(peers: list[Peer], token: str) -> Path:
    """The status board of this job: named after rank 0's host, pid and ``token``."""
    first = peers[0]
    return runtime_dir() / f"{first.host}-{first.pid}-{token}"


def sweep_stale_boards(host: str) -> int:
    """Remove the boards in :func:`runtime_dir` of jobs on ``host`` whose rank 0 is gone
    (ranks killed with SIGKILL leave their status behind); returns how many went."""
    removed = 0
    for board in runtime_dir().glob(f"{host}-*"):
        pid = board.name[len(host) + 1 :].split("-", 1)[0]
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        for status in board.glob("rank*"):  # statuses, and a write cut short
            status.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # another rank swept it, or a new file came
            board.rmdir()
            removed += 1
    return removed
