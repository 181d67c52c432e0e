"""What each MPI rank of a ``%%wb distributed`` cell runs (``-m workbench.magics.rank_cell DIR``).

``DIR`` holds ``cell.py`` (the cell's code), ``inputs.pkl`` (the ``--in`` variables) and
``outputs.json`` (the names ``--out`` asks for). The rank runs the cell with the engine
initialised and ``hvd`` in scope, tags every line it prints as ``<rank>|<o or e>|text`` for the
notebook to route, writes ``error-<rank>.txt`` with the cell's traceback if it raises (and exits
1, so mpiexec stops every other rank), and rank 0 writes the ``--out`` variables to
``outputs.pkl``.
"""

from __future__ import annotations

import io
import json
import linecache
import os
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from workbench.jobs.rank_wrapper import rank_from_env

CELL_NAME = "<cell>"


class TaggedLines(io.TextIOBase):
    """A text stream that writes each complete line as ``<rank>|<stream>|<line>``."""

    def __init__(self, out: TextIO, rank: int, stream: str) -> None:
        self.out, self.prefix, self.pending = out, f"{rank}|{stream}|", ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.out.write(f"{self.prefix}{line}\n")
        if lines:
            self.out.flush()
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.out.write(f"{self.prefix}{self.pending}\n")
            self.pending = ""
        self.out.flush()


def _cell_traceback(exc: BaseException) -> str:
    """The traceback from the cell's own frames on: the runner above it is not the user's."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [i for i, frame in enumerate(frames) if frame.filename == CELL_NAME]
    tb = exc.__traceback__
    for _ in range(inside[0] if inside else 0):
        tb = tb.tb_next if tb is not None else None
    return "".join(traceback.format_exception(type(exc), exc, tb))


def run(folder: Path) -> int:
    import cloudpickle

    rank = rank_from_env()
    real_out = sys.stdout
    sys.stdout = TaggedLines(real_out, rank, "o")
    sys.stderr = TaggedLines(real_out, rank, "e")
    namespace: dict[str, Any] = {"__name__": "__main__"}
    try:
        import workbench.engine.torch as hvd

        hvd.init()
        namespace["hvd"] = hvd
        namespace.update(cloudpickle.loads((folder / "inputs.pkl").read_bytes()))
        source = (folder / "cell.py").read_text()
        linecache.cache[CELL_NAME] = (len(source), None, source.splitlines(True), CELL_NAME)
        exec(compile(source, CELL_NAME, "exec"), namespace)  # noqa: S102  # the user's own cell, on the user's own ranks
        if rank == 0:
            wanted = json.loads((folder / "outputs.json").read_text())
            missing = [name for name in wanted if name not in namespace]
            if missing:
                raise NameError(f"--out names not set by the cell on rank 0: {', '.join(missing)}")
            values = {name: namespace[name] for name in wanted}
            (folder / "outputs.pkl").write_bytes(cloudpickle.dumps(values))
        hvd.shutdown()
    except BaseException as exc:  # the notebook shows it; mpiexec stops the other ranks
        (folder / f"error-{rank}.txt").write_text(_cell_traceback(exc))
        sys.stdout.flush()
        sys.stderr.flush()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


if __name__ == "__main__":
    status = run(Path(sys.argv[1]))
    if status:  # do not wait for the engine's thread, which may sit in a collective
        os._exit(status)
