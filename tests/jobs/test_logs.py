"""Log files read a bit at a time (what the server's log stream polls), without a job."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

from workbench.jobs.logs import LogFollower, LogLine, StreamFollower, read_logs


def _texts(lines: list[LogLine]) -> list[tuple[int | None, str, str]]:
    return [(line.rank, line.stream, line.text) for line in lines]


def test_tail_first_then_only_complete_new_lines_until_final(tmp_path: Path):
    (tmp_path / "rank-0.out").write_text("old 1\nold 2\nold 3\npartial")
    (tmp_path / "rank-1.out").write_text("other rank\n")
    follower = LogFollower(tmp_path, rank=0, tail=3)  # the unfinished line counts as one
    assert _texts(follower.read()) == [(0, "stdout", "old 2"), (0, "stdout", "old 3")]
    assert follower.read() == []  # "partial" has no newline yet: it waits
    with open(tmp_path / "rank-0.out", "a") as f:
        f.write(" line\nnew\nunfinished")
    (tmp_path / "rank-0.err").write_text("late file\n")  # a file that appears later
    assert _texts(follower.read()) == [
        (0, "stdout", "partial line"),
        (0, "stdout", "new"),
        (0, "stderr", "late file"),
    ]
    assert _texts(follower.read(final=True)) == [(0, "stdout", "unfinished")]
    assert follower.read(final=True) == []


def test_a_finished_job_gives_everything_at_the_first_read(tmp_path: Path):
    (tmp_path / "mpiexec.log").write_text("[1,0]<stdout>: tagged\nplain\n")
    (tmp_path / "rank-0.out").write_text("a\nno newline")
    follower = LogFollower(tmp_path, ["mpiexec.log"], rank=0, tail=None)
    assert _texts(follower.read(final=True)) == [
        (0, "stdout", "tagged"),
        (0, "stdout", "a"),
        (0, "stdout", "no newline"),
    ]
    # read_logs is the same reader in a loop
    assert [str(line) for line in read_logs(tmp_path, launcher_files=["mpiexec.log"])] == [
        "[0:out] tagged",
        "[launcher] plain",
        "[0:out] a",
        "[0:out] no newline",
    ]


def test_a_stream_follower_drains_a_blocking_iterator_without_waiting():
    release = threading.Event()

    def stream() -> Iterator[LogLine]:
        yield LogLine(0, "stdout", "first")
        release.wait(10)
        yield LogLine(0, "stdout", "second")

    follower = StreamFollower(stream)
    got: list[LogLine] = []
    for _ in range(200):  # the first line arrives on the follower's thread
        if got := follower.read():
            break
        time.sleep(0.01)
    assert _texts(got) == [(0, "stdout", "first")]
    assert follower.read() == []  # the stream is blocked: read does not wait for it
    release.set()
    assert _texts(follower.read(final=True)) == [(0, "stdout", "second")]
    follower.close()
