"""Per-rank log files: discover, tail and follow them, tagging each line.

Every file-based backend writes one directory per job: ``rank-<r>.out`` and ``rank-<r>.err``
for each rank, plus the launcher's own output (``mpiexec.log``, ``slurm-<id>.out``).
Readers get :class:`LogLine` objects; ``str(line)`` is the tagged form ``[1:err] text``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

_RANK_FILE = re.compile(r"^rank-(\d+)\.(out|err)$")
_STREAMS = {"out": "stdout", "err": "stderr"}
# mpirun --tag-output: "[1,0]<stdout>: text" (Open MPI 4), "[prterun-host-1@1,0]<stderr>: ..." (5)
_MPI_TAG = re.compile(r"^\[[^\],\[]+,(\d+)\]<(stdout|stderr)>:\s?(.*)$")
_BLOCK = 64 * 1024


@dataclass(frozen=True, slots=True)
class LogLine:
    rank: int | None  # None: the launcher (mpiexec, sbatch, the MPIJob launcher)
    stream: str  # "stdout", "stderr" or "launcher"
    text: str

    @property
    def tag(self) -> str:
        if self.rank is None:
            return "[launcher]"
        return f"[{self.rank}:{'out' if self.stream == 'stdout' else 'err'}]"

    def __str__(self) -> str:
        return f"{self.tag} {self.text}"


@dataclass(frozen=True, slots=True)
class LogSource:
    rank: int | None
    stream: str
    path: Path


def log_sources(log_dir: Path, launcher_files: Sequence[str] = ()) -> list[LogSource]:
    """The launcher's files first, then each rank's stdout and stderr, by rank."""
    sources = [
        LogSource(None, "launcher", log_dir / name)
        for name in launcher_files
        if (log_dir / name).is_file()
    ]
    ranked = []
    try:
        names = os.listdir(log_dir)
    except FileNotFoundError:
        names = []
    for name in names:
        match = _RANK_FILE.match(name)
        if match:
            rank, stream = int(match[1]), _STREAMS[match[2]]
            ranked.append(LogSource(rank, stream, log_dir / name))
    ranked.sort(key=lambda s: (s.rank, s.stream != "stdout"))
    return sources + ranked


def _select(sources: list[LogSource], rank: int | None) -> list[LogSource]:
    """A rank's own files, and the launcher's (mpirun may have tagged lines with ranks)."""
    return [s for s in sources if rank is None or s.rank in (None, rank)]


def _only(lines: Iterator[LogLine], rank: int | None) -> Iterator[LogLine]:
    return (line for line in lines if rank is None or line.rank == rank)


def tail_bytes(path: Path, lines: int | None) -> tuple[bytes, int]:
    """The last ``lines`` lines of ``path`` (all when None) and the offset read up to."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        if lines is None:
            f.seek(0)
            return f.read(end), end
        data, pos = b"", end
        while pos > 0 and data.count(b"\n") <= lines:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    kept = data.splitlines(keepends=True)[-lines:] if lines else []
    return b"".join(kept), end


def tagged_line(text: str) -> LogLine:
    """A launcher's line; one that mpirun tagged with a rank is attributed to that rank."""
    match = _MPI_TAG.match(text)
    if match:
        return LogLine(int(match[1]), match[2], match[3])
    return LogLine(None, "launcher", text)


def _lines(source: LogSource, data: bytes) -> Iterator[LogLine]:
    for raw in data.decode("utf-8", errors="replace").splitlines():
        yield tagged_line(raw) if source.rank is None else LogLine(source.rank, source.stream, raw)


class LogFollower:
    """A job's log files read a bit at a time, never waiting: the first :meth:`read` gives
    each file's last ``tail`` lines, every later one the complete lines written since.

    The server's log stream calls it every half second on a worker thread; :func:`read_logs`
    calls it in a loop. ``final=True`` (the job has ended) also returns a last line that has
    no newline yet. Files that appear later (a rank starting late) are read from their start.
    """

    def __init__(
        self,
        log_dir: Path,
        launcher_files: Sequence[str] = (),
        *,
        rank: int | None = None,
        tail: int | None = None,
    ) -> None:
        self.log_dir, self.launcher_files = log_dir, list(launcher_files)
        self.rank, self.tail = rank, tail
        self._offsets: dict[Path, int] | None = None

    def read(self, *, final: bool = False) -> list[LogLine]:
        sources = _select(log_sources(self.log_dir, self.launcher_files), self.rank)
        if self._offsets is None:
            self._offsets = {}
            return [line for s in sources for line in self._tail(s, final)]
        offsets = self._offsets
        return [
            line for s in sources for line in _only(_read_new(s, offsets, flush=final), self.rank)
        ]

    def _tail(self, source: LogSource, final: bool) -> Iterator[LogLine]:
        assert self._offsets is not None
        data, self._offsets[source.path] = tail_bytes(source.path, self.tail)
        if not final and data and not data.endswith(b"\n"):  # keep a partial line for later
            cut = data.rfind(b"\n") + 1
            self._offsets[source.path] -= len(data) - cut
            data = data[:cut]
        return _only(_lines(source, data), self.rank)

    def close(self) -> None:
        """Nothing to release: files are opened only while they are read."""


class StreamFollower:
    """Reads like :class:`LogFollower`, from a blocking line iterator (a scheduler's log stream): a
    daemon thread drains it into a buffer that :meth:`read` empties without waiting."""

    def __init__(self, open_stream: Callable[[], Iterator[LogLine]], end_wait_s: float = 2.0):
        self._lines: list[LogLine] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._end_wait_s = end_wait_s
        self._thread = threading.Thread(
            target=self._drain, args=(open_stream,), name="wb-log-stream", daemon=True
        )
        self._thread.start()

    def _drain(self, open_stream: Callable[[], Iterator[LogLine]]) -> None:
        try:
            for line in open_stream():
                if self._closed.is_set():
                    return
                with self._lock:
                    self._lines.append(line)
        except Exception as exc:  # shown in the stream: the reader has no other channel
            with self._lock:
                self._lines.append(LogLine(None, "launcher", f"log stream ended: {exc}"))

    def read(self, *, final: bool = False) -> list[LogLine]:
        if final:  # the stream ends with the job: give it a moment to deliver its last lines
            self._thread.join(self._end_wait_s)
        with self._lock:
            lines, self._lines = self._lines, []
        return lines

    def close(self) -> None:
        self._closed.set()


Follower = LogFollower | StreamFollower


def read_logs(
    log_dir: Path,
    *,
    launcher_files: Sequence[str] = (),
    rank: int | None = None,
    tail: int | None = None,
    follow: bool = False,
    finished: Callable[[], bool] = lambda: True,
    poll_interval: float = 0.2,
) -> Iterator[LogLine]:
    """Tail each file (``tail`` lines each), then with ``follow`` stream new complete lines
    until ``finished()`` is true and everything written before that has been read."""
    follower = LogFollower(log_dir, launcher_files, rank=rank, tail=tail)
    yield from follower.read(final=not follow)
    if not follow:
        return
    while True:
        done = finished()
        yield from follower.read(final=done)
        if done:
            return
        time.sleep(poll_interval)


def _read_new(source: LogSource, offsets: dict[Path, int], *, flush: bool) -> Iterator[LogLine]:
    start = offsets.get(source.path, 0)
    try:
        with open(source.path, "rb") as f:
            f.seek(start)
            data = f.read()
    except FileNotFoundError:
        return
    if not flush:
        data = data[: data.rfind(b"\n") + 1]
    offsets[source.path] = start + len(data)
    yield from _lines(source, data)
