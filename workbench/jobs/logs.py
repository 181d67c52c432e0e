"""Per-rank log files: discover, tail and follow them, tagging each line.

Every file-based backend writes one directory per job: ``rank-<r>.out`` and ``rank-<r>.err``
for each rank, plus the launcher's own output (``mpiexec.log``, ``slurm-<id>.out``).
Readers get :class:`LogLine` objects; ``str(line)`` is the tagged form ``[1:err] text``.
"""

from __future__ import annotations

import os
import re
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
    offsets: dict[Path, int] = {}
    for source in _select(log_sources(log_dir, launcher_files), rank):
        data, offsets[source.path] = tail_bytes(source.path, tail)
        if follow and data and not data.endswith(b"\n"):  # keep a partial line for later
            cut = data.rfind(b"\n") + 1
            offsets[source.path] -= len(data) - cut
            data = data[:cut]
        yield from _only(_lines(source, data), rank)
    if not follow:
        return
    while True:
        done = finished()
        for source in _select(log_sources(log_dir, launcher_files), rank):
            yield from _only(_read_new(source, offsets, flush=done), rank)
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
