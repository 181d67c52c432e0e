"""Process identities that survive restarts, and stopping a whole process session.

A pid alone is not an identity: after a reboot or a long uptime the number is reused.
:class:`ProcessId` pairs it with the process's start time, so a re-attaching service never
signals a stranger. ``mpiexec`` is started as a session leader and Open MPI gives each rank
its own process group inside that session, so "the job's processes" are the session's.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import psutil

_START_TIME_SLACK_S = 0.5  # psutil derives start times from boot time + ticks; allow jitter


@dataclass(frozen=True, slots=True)
class ProcessId:
    pid: int
    started: float  # psutil create_time(): seconds since the epoch

    @classmethod
    def of(cls, pid: int) -> ProcessId:
        """Identity of the live process ``pid`` (raises psutil.NoSuchProcess)."""
        return cls(pid, psutil.Process(pid).create_time())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessId:
        return cls(int(data["pid"]), float(data["started"]))

    def to_dict(self) -> dict[str, Any]:
        return {"pid": self.pid, "started": self.started}

    def alive(self) -> bool:
        """True when this very process (not a reuse of its pid) runs and is not a zombie."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.started) > _START_TIME_SLACK_S:
                return False
            return bool(proc.status() != psutil.STATUS_ZOMBIE)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False


def session_pids(sid: int) -> list[int]:
    """Live, non-zombie processes whose session id is ``sid``."""
    found = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                found.append(pid)
        except (OSError, psutil.Error):
            continue
    return found


def signal_session(sid: int, sig: signal.Signals) -> int:
    """Send ``sig`` to every process of session ``sid``; returns how many were signalled."""
    count = 0
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
            count += 1
        except ProcessLookupError:
            continue
    return count


def wait_session_gone(sid: int, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while session_pids(sid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def reused(leader: ProcessId) -> bool:
    """True when ``leader``'s pid now belongs to another process.

    Linux never hands out a pid that is still some session's id, so while any process of
    our job's session lives the pid cannot be reused; a live stranger means it has ended.
    """
    try:
        started = float(psutil.Process(leader.pid).create_time())
        return abs(started - leader.started) > _START_TIME_SLACK_S
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def session_members(leader: ProcessId) -> list[int]:
    """Live processes of the session ``leader`` started (none if its pid was reused)."""
    return [] if reused(leader) else session_pids(leader.pid)


def terminate_session(leader: ProcessId, grace_s: float = 5.0) -> bool:
    """SIGTERM every process in ``leader``'s session, SIGKILL what is left after ``grace_s``.

    Returns True when nothing of the session is left. A session whose leader's pid was
    reused is not touched: that session id belongs to someone else now.
    """
    if not session_members(leader):
        return True
    sid = leader.pid
    signal_session(sid, signal.SIGTERM)
    if wait_session_gone(sid, grace_s):
        return True
    signal_session(sid, signal.SIGKILL)
    return wait_session_gone(sid, 5.0)
