"""How a local attempt ended, from the rank wrappers' exit records and mpiexec's log."""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

from workbench.jobs.states import JobState

MPIEXEC_LOG = "mpiexec.log"
# Open MPI 5 (prterun) prints, e.g.:
#   prterun noticed that process rank 1 with PID 10639 on node vm exited on
#   signal 9 (Killed).
_NOTICED = re.compile(
    r"noticed that process rank (\d+) with PID \d+ on node \S+ exited on\s+signal (\d+)"
)


@dataclass(frozen=True, slots=True)
class RankExit:
    rank: int
    returncode: int  # negative: killed by that signal
    ended: float


@dataclass(frozen=True, slots=True)
class Outcome:
    state: JobState
    reason: str | None
    exit_codes: dict[int, int] = field(default_factory=dict)
    retriable: bool = False


def read_exit_records(log_dir: Path) -> dict[int, RankExit]:
    records = {}
    for path in log_dir.glob("rank-*.exit.json"):
        try:
            data = json.loads(path.read_text())
            exit_ = RankExit(int(data["rank"]), int(data["returncode"]), float(data["ended"]))
        except (OSError, ValueError, KeyError):
            continue
        records[exit_.rank] = exit_
    return records


def clear_exit_records(log_dir: Path) -> None:
    for path in log_dir.glob("rank-*.exit.json"):
        path.unlink(missing_ok=True)


def describe_returncode(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = "unknown"
        return f"was killed by signal {-returncode} ({name})"
    return f"exited with code {returncode}"


def first_failure(records: dict[int, RankExit]) -> RankExit | None:
    """The rank that failed first: the others usually died because Open MPI stopped them."""
    failed = [r for r in records.values() if r.returncode != 0]
    return min(failed, key=lambda r: (r.ended, r.rank)) if failed else None


def _launcher_reason(log_dir: Path, returncode: int | None) -> str:
    try:
        text = (log_dir / MPIEXEC_LOG).read_text(errors="replace")
    except OSError:
        text = ""
    noticed = _NOTICED.search(" ".join(text.split()))
    if noticed:
        rank, sig = int(noticed[1]), int(noticed[2])
        return f"rank {rank} {describe_returncode(-sig)}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("---")]
    tail = f": {lines[-1]}" if lines else ""
    code = "ended" if returncode is None else describe_returncode(returncode)
    return f"mpiexec {code}{tail}"


def attempt_outcome(log_dir: Path, ranks: int, returncode: int | None) -> Outcome:
    """Outcome of one attempt; ``returncode`` is mpiexec's, None when it was not our child."""
    records = read_exit_records(log_dir)
    codes = {rank: rec.returncode for rank, rec in sorted(records.items())}
    all_zero = len(records) == ranks and not any(codes.values())
    ok = returncode == 0 if returncode is not None else all_zero
    if ok and not any(codes.values()):
        return Outcome(JobState.SUCCEEDED, None, codes)
    failure = first_failure(records)
    if failure is not None:
        reason = f"rank {failure.rank} {describe_returncode(failure.returncode)}"
    else:
        reason = _launcher_reason(log_dir, returncode)
    return Outcome(JobState.FAILED, reason, codes, retriable=True)
