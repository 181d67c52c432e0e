"""Slurm text: the sbatch script we render, and the ``sacct`` output we read.

Resource options go in ``#SBATCH`` lines (every value there passed a strict pattern in the
spec); user text in the script body is ``shlex.quote``-d. Failed attempts are retried inside
the allocation by the script's own loop, with exponential backoff, exporting
``WORKBENCH_ATTEMPT`` and ``WORKBENCH_RESUME_FROM`` (see :mod:`workbench.jobs.checkpoints`).
"""

from __future__ import annotations

import math
import shlex

from workbench.jobs.backends.launch import entry_argv, rank_env
from workbench.jobs.checkpoints import SHELL_RESUME
from workbench.jobs.spec import JobSpec, SlurmOptions
from workbench.jobs.states import JobState
from workbench.jobs.store import JobRecord

_PENDING = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING"}
_PENDING |= {"SUSPENDED", "STOPPED", "REVOKED"}
_RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
_FAILED = {"FAILED", "NODE_FAIL", "OUT_OF_MEMORY", "TIMEOUT", "BOOT_FAIL", "DEADLINE"}
_FAILED |= {"PREEMPTED", "SPECIAL_EXIT"}
EXPLAINED = {
    "TIMEOUT": "it ran past its --time limit (timeout_s)",
    "OUT_OF_MEMORY": "a step ran out of memory (resources.memory)",
    "NODE_FAIL": "a node it ran on failed",
    "PREEMPTED": "it was preempted",
    "BOOT_FAIL": "its nodes failed to boot",
    "DEADLINE": "it missed its deadline",
}


def slurm_time(seconds: float) -> str:
    """``D-HH:MM:SS`` (rounded up to whole seconds) for ``--time``."""
    total = math.ceil(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"


def sbatch_directives(spec: JobSpec, job_name: str) -> list[str]:
    opts = spec.slurm or SlurmOptions()
    res = spec.resources
    lines = [f"--job-name={job_name}", f"--ntasks={spec.ranks}", f"--cpus-per-task={res.cpus}"]
    if spec.ranks_per_node:
        lines += [f"--nodes={spec.nodes}", f"--ntasks-per-node={spec.ranks_per_node}"]
    if res.gpus:
        lines.append(f"--gpus-per-task={res.gpus}")
    if res.memory_mib:
        lines.append(f"--mem-per-cpu={math.ceil(res.memory_mib / res.cpus)}M")
    if spec.timeout_s:
        lines.append(f"--time={slurm_time(spec.timeout_s)}")
    for name in ("partition", "account", "qos"):
        value = getattr(opts, name)
        if value:
            lines.append(f"--{name}={value}")
    lines.append("--open-mode=append")
    return [f"#SBATCH {line}" for line in lines]


def launch_line(spec: JobSpec, job: JobRecord) -> list[str]:
    opts = spec.slurm or SlurmOptions()
    entry = entry_argv(spec, opts.python, job.job_dir)
    if opts.launcher == "mpirun":
        return ["mpirun", "-n", str(spec.ranks), "--tag-output", *entry]
    log_dir = str(job.log_dir)
    return [
        *("srun", f"--mpi={opts.mpi}", "--kill-on-bad-exit=1"),
        *(f"--output={log_dir}/rank-%t.out", f"--error={log_dir}/rank-%t.err", "--"),
        *entry,
    ]


def render_script(spec: JobSpec, job: JobRecord) -> str:
    """The sbatch script for ``job``: directives, environment, the retry loop."""
    job_name = f"wb-{job.name}-{job.id[:8]}"
    env = rank_env(spec, job.id, 1, job.checkpoint_dir or str(job.job_dir / "checkpoints"))
    env.pop("WORKBENCH_ATTEMPT")
    exports = [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    body = [
        "#!/bin/bash",
        *sbatch_directives(spec, job_name),
        f"# workbench job {job.id} ({job.name}); rendered by workbench.jobs.backends.slurm",
        "set -u",
        *exports,
        'mkdir -p "$WORKBENCH_CHECKPOINT_DIR"',
        f"max_attempts={spec.retries + 1}",
        f"delay={max(1, math.ceil(spec.retry_backoff_s))}",
        "attempt=1",
        "while true; do",
        "  export WORKBENCH_ATTEMPT=$attempt",
        f"  {SHELL_RESUME}",
        f"  {shlex.join(launch_line(spec, job))}",
        "  status=$?",
        '  if [ "$status" -eq 0 ]; then exit 0; fi',
        '  if [ "$attempt" -ge "$max_attempts" ]; then exit "$status"; fi',
        '  echo "workbench: attempt $attempt failed (status $status); retrying in ${delay}s" >&2',
        '  sleep "$delay"',
        "  delay=$((delay * 2))",
        "  attempt=$((attempt + 1))",
        "done",
    ]
    return "\n".join(body) + "\n"


def parse_sacct(text: str, slurm_id: str) -> tuple[str | None, str | None, str | None]:
    """(job state, job exit code, the failing step) from ``--parsable2`` output.

    The failing step is the first failed ``srun`` step (``ID.0``), else ``ID.batch``: the
    batch script usually fails only because a step did.
    """
    state = code = None
    failed: list[tuple[bool, str]] = []
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 3 or not fields[1]:
            continue
        job_id, step_state, exit_code = fields[0], fields[1].split()[0], fields[2]
        if job_id == slurm_id:
            state, code = step_state, exit_code
        elif step_state in _FAILED and job_id.startswith(slurm_id + "."):
            numbered = job_id.rsplit(".", 1)[1].isdigit()
            failed.append((not numbered, f"step {job_id} {step_state} (exit code {exit_code})"))
    return state, code, min(failed, key=lambda f: f[0])[1] if failed else None


def map_state(slurm_state: str) -> JobState:
    if slurm_state in _PENDING:
        return JobState.STARTING
    if slurm_state in _RUNNING:
        return JobState.RUNNING
    if slurm_state == "COMPLETED":
        return JobState.SUCCEEDED
    if slurm_state == "CANCELLED":
        return JobState.CANCELLED
    return JobState.FAILED
