"""A fake ``sbatch``/``squeue``/``sacct``/``scancel``: replays recorded real Slurm output.

Installed into a bin directory under each tool's name (see ``fake_slurm`` in conftest);
``$FAKE_SLURM_RECORDINGS`` is the folder of recordings.
``$FAKE_SLURM_DIR/scenario.json`` maps a tool to a recording name (``fixtures/slurm/*.json``)
or to a list of them, used one per call (the last one repeats). Every call is appended to
``calls.jsonl``; the script sbatch was given is copied to ``submitted.sbatch``.
``$FAKE_SLURM_DIR/delays.json`` maps a tool to seconds it takes before answering (a slow
controller).
"""

import json
import os
import shutil
import sys
import time
from pathlib import Path

RECORDINGS = Path(os.environ["FAKE_SLURM_RECORDINGS"])


def main() -> int:
    tool = Path(sys.argv[0]).name
    state_dir = Path(os.environ["FAKE_SLURM_DIR"])
    with open(state_dir / "calls.jsonl", "a") as calls:
        calls.write(json.dumps({"tool": tool, "argv": sys.argv[1:]}) + "\n")
    if tool == "sbatch":
        shutil.copy(sys.argv[-1], state_dir / "submitted.sbatch")
    delays = state_dir / "delays.json"
    if delays.exists():
        time.sleep(float(json.loads(delays.read_text()).get(tool, 0.0)))  # a slow controller
    scenario = json.loads((state_dir / "scenario.json").read_text())
    choice = scenario[tool]
    if isinstance(choice, list):
        counter = state_dir / f"{tool}.count"
        used = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(used + 1))
        choice = choice[min(used, len(choice) - 1)]
    recording = json.loads((RECORDINGS / f"{choice}.json").read_text())
    sys.stdout.write(recording["stdout"])
    sys.stderr.write(recording["stderr"])
    return int(recording["returncode"])


if __name__ == "__main__":
    sys.exit(main())
