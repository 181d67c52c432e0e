"""Run a notebook cell on N local MPI ranks (``%%wb distributed``), like ipyparallel's
``%%px`` but with the workbench engine: each rank's output streams in live, tagged with its
rank; ``--in`` variables go to every rank, ``--out`` variables come back from rank 0; an error
on any rank shows that rank's traceback and stops every rank."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from workbench.engine.timeline import TIMELINE_ENV
from workbench.errors import InvalidInput, WorkbenchError
from workbench.jobs.backends.local import child_env, find_mpiexec, mpiexec_argv

MAX_RANKS = 64
STOP_GRACE_S = 5.0


class CellFailed(WorkbenchError):
    """A rank raised, timed out or was stopped; every rank has been stopped. ``traceback``:
    the failing rank's own traceback (empty when no rank raised)."""

    status_code = 500

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback


@dataclass(frozen=True)
class DistributedCell:
    code: str
    ranks: int
    inputs: Sequence[str] = ()
    outputs: Sequence[str] = ()
    timeout: float | None = None
    timeline: Path | None = None  # Chrome trace of every collective (rank 0's at this path)


def run_cell(
    cell: DistributedCell,
    namespace: Mapping[str, Any],
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> dict[str, Any]:
    """Run ``cell`` on its ranks; returns the ``--out`` variables of rank 0."""
    import cloudpickle

    _check(cell, namespace)
    mpiexec = find_mpiexec()
    if mpiexec is None:
        raise InvalidInput("mpiexec not found: run `make setup` so the venv's Open MPI is there")
    out, err = stdout or sys.stdout, stderr or sys.stderr
    with tempfile.TemporaryDirectory(prefix="wb-cell-") as tmp:
        folder = Path(tmp)  # mkdtemp makes it 0700
        (folder / "cell.py").write_text("\n" + cell.code)  # line numbers as the cell shows
        inputs = {name: namespace[name] for name in cell.inputs}
        (folder / "inputs.pkl").write_bytes(cloudpickle.dumps(inputs))
        (folder / "outputs.json").write_text(json.dumps(list(cell.outputs)))
        argv = [*mpiexec_argv(mpiexec, cell.ranks), sys.executable, "-u", "-m",
                "workbench.magics.rank_cell", str(folder)]  # fmt: skip
        launcher: list[str] = []  # mpiexec's own words: shown only when no rank explains
        env = {TIMELINE_ENV: str(cell.timeline.resolve())} if cell.timeline else {}
        code, timed_out = _run(argv, cell.timeout, _router(out, err, launcher), env)
        failed = sorted(folder.glob("error-*.txt"), key=lambda p: int(p.stem.split("-")[1]))
        if failed:
            rank, text = failed[0].stem.split("-")[1], failed[0].read_text()
            last = text.strip().splitlines()[-1]
            raise CellFailed(
                f"rank {rank} failed ({last}); all {cell.ranks} ranks were stopped",
                f"--- rank {rank} ---\n{text}",
            )
        if timed_out:
            raise CellFailed(
                f"the cell ran past --timeout {cell.timeout:g} s; all {cell.ranks} ranks stopped"
            )
        if code != 0:
            err.write("\n".join(launcher) + "\n")
            raise CellFailed(f"mpiexec exited with {code}; its messages are above")
        result = folder / "outputs.pkl"
        return dict(cloudpickle.loads(result.read_bytes())) if result.exists() else {}


def _check(cell: DistributedCell, namespace: Mapping[str, Any]) -> None:
    if not 1 <= cell.ranks <= MAX_RANKS:
        raise InvalidInput(f"-n: between 1 and {MAX_RANKS} ranks (got {cell.ranks})")
    if cell.timeout is not None and cell.timeout <= 0:
        raise InvalidInput(f"--timeout: seconds > 0 (got {cell.timeout:g})")
    bad = [name for name in (*cell.inputs, *cell.outputs) if not name.isidentifier()]
    if bad:
        raise InvalidInput(f"--in/--out: not Python names: {', '.join(bad)}")
    missing = [name for name in cell.inputs if name not in namespace]
    if missing:
        raise InvalidInput(f"--in: not defined in the notebook: {', '.join(missing)}")
    if not cell.code.strip():
        raise InvalidInput("the cell is empty: write the code each rank runs below the magic")


def _router(out: TextIO, err: TextIO, launcher: list[str]) -> Callable[[str], None]:
    """Each tagged line to the cell's stdout or stderr as ``[rank] text``; other lines
    (mpiexec's) are kept in ``launcher``."""

    def route(line: str) -> None:
        rank, sep, rest = line.partition("|")
        stream, sep2, text = rest.partition("|")
        if sep and sep2 and rank.isdigit() and stream in ("o", "e"):
            target = out if stream == "o" else err
            target.write(f"[{rank}] {text}\n")
            target.flush()
        elif line.strip():
            launcher.append(line)

    return route


def _run(
    argv: list[str], timeout: float | None, route: Callable[[str], None], env: dict[str, str]
) -> tuple[int, bool]:
    """Run mpiexec in its own session, routing its output; (exit code, timed out)."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(env),
        start_new_session=True, text=True, bufsize=1,
    )  # fmt: skip
    output = proc.stdout
    assert output is not None

    def pump() -> None:
        for line in output:
            route(line.rstrip("\n"))

    reader = threading.Thread(target=pump, name="wb-cell-output", daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:  # a timeout, an interrupt (the kernel's stop button) or an error: no rank left
        if proc.poll() is None:
            _stop(proc)
        reader.join(timeout=STOP_GRACE_S)
    return proc.returncode, timed_out


def _stop(proc: subprocess.Popen[str]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=STOP_GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue
