"""What ``mpiexec`` starts on each rank of a local job: logs, resume env, exit record.

    python -m workbench.jobs.rank_wrapper --log-dir DIR -- python train.py ...

It runs the entry as its child with stdout and stderr appended to ``DIR/rank-<r>.out`` and
``DIR/rank-<r>.err``, sets ``WORKBENCH_RESUME_FROM`` (see :mod:`workbench.jobs.checkpoints`),
forwards termination signals, writes ``DIR/rank-<r>.exit.json`` (the child's return code,
negative for a signal, and when it ended) and then exits the way the child did, so Open MPI
sees the failure and stops the other ranks. The child dies with the wrapper (Linux
``PR_SET_PDEATHSIG``), so killing either never leaves an orphan. Standard library only:
this starts once per rank and must be quick.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from workbench.jobs.checkpoints import resume_env
from workbench.training.checkpoints import ENV_CHECKPOINT_DIR

_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID")
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
_PR_SET_PDEATHSIG = 1


def rank_from_env(environ: dict[str, str] | os._Environ[str] = os.environ) -> int:
    for name in _RANK_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    return 0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def write_exit_record(log_dir: Path, rank: int, returncode: int, pid: int) -> None:
    final = log_dir / f"rank-{rank}.exit.json"
    tmp = final.with_suffix(".tmp")
    tmp.write_text(
        json.dumps({"rank": rank, "returncode": returncode, "pid": pid, "ended": time.time()})
    )
    os.replace(tmp, final)


def run(log_dir: Path, argv: list[str]) -> int:
    rank = rank_from_env()
    env = dict(os.environ)
    if env.get(ENV_CHECKPOINT_DIR):
        env.update(resume_env(env[ENV_CHECKPOINT_DIR]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    with (
        open(log_dir / f"rank-{rank}.out", "ab", buffering=0) as out,
        open(log_dir / f"rank-{rank}.err", "ab", buffering=0) as err,
    ):
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                preexec_fn=_die_with_parent,  # safe: this wrapper runs no threads
            )
        except OSError as exc:
            err.write(f"workbench: cannot start {argv[0]!r}: {exc}\n".encode())
            write_exit_record(log_dir, rank, 127, os.getpid())
            return 127

        def forward(signum: int, _frame: FrameType | None) -> None:
            if child.poll() is None:
                child.send_signal(signum)

        for sig in _FORWARDED:
            signal.signal(sig, forward)
        returncode = child.wait()
    write_exit_record(log_dir, rank, returncode, child.pid)
    return returncode


def exit_like(returncode: int) -> None:
    """Leave the way the child left: the same exit code, or death by the same signal."""
    if returncode < 0:
        if -returncode not in (signal.SIGKILL, signal.SIGSTOP):  # those cannot be handled
            signal.signal(-returncode, signal.SIG_DFL)
        os.kill(os.getpid(), -returncode)
        time.sleep(1)  # a stopped/ignored signal: fall through to an exit code
        sys.exit(128 - returncode)
    sys.exit(returncode)


def main(args: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.jobs.rank_wrapper")
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    ns = parser.parse_args(args)
    command = ns.command[1:] if ns.command[:1] == ["--"] else ns.command
    if not command:
        parser.error("no command to run after --")
    exit_like(run(ns.log_dir, command))


if __name__ == "__main__":
    main()
