"""``%%wb distributed`` in a real IPython kernel (nbclient) on real MPI ranks."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.mpi, pytest.mark.slow]


def _rank_processes() -> list[str]:
    """Command lines of live processes running a distributed cell's rank."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "workbench.magics.rank_cell" in cmdline:
            found.append(cmdline)
    return found


def _run(tmp_path: Path, *sources: str, allow_errors: bool = False) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in ("%load_ext workbench", *sources)]
    NotebookClient(
        nb, timeout=240, kernel_name="python3", allow_errors=allow_errors,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()  # fmt: skip
    return nb


def _text(cell: nbformat.NotebookNode, name: str | None = None) -> str:
    parts = []
    for out in cell.outputs:
        if out.output_type == "stream" and name in (None, out.name):
            parts.append(out.text)
        elif out.output_type == "execute_result" and name is None:
            parts.append(out.data.get("text/plain", ""))
    return "".join(parts)


def test_allreduce_on_two_ranks_with_in_and_out(tmp_path: Path, wb_home: Path):
    nb = _run(
        tmp_path,
        "base = 20",
        "%%wb distributed -n 2 --in base --out total,ranks\n"
        "import torch\n"
        "t = hvd.allreduce(torch.tensor([float(base + hvd.rank())]), op=hvd.Sum)\n"
        "print(f'rank {hvd.rank()} of {hvd.size()}: {t.item():g}')\n"
        "total, ranks = t.item(), hvd.size()\n",
        "print(total, ranks)",
    )
    cell = nb.cells[2]
    streamed = _text(cell, "stdout")
    assert "[0] rank 0 of 2: 41" in streamed and "[1] rank 1 of 2: 41" in streamed
    assert _text(nb.cells[3]).strip() == "41.0 2"  # rank 0's values, back in the notebook
    assert not _rank_processes()


def test_an_error_on_one_rank_shows_its_traceback_and_stops_every_rank(
    tmp_path: Path, wb_home: Path
):
    source = (
        "%%wb distributed -n 2\n"
        "import torch\n"
        "if hvd.rank() == 1:\n"
        "    raise ValueError('bad shard on rank one')\n"
        "hvd.allreduce(torch.ones(1))  # rank 0 waits here for a rank that is gone\n"
    )
    nb = _run(tmp_path, source, "print('after')", allow_errors=True)
    cell = nb.cells[1]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "MagicError", cell.outputs
    assert "rank 1 failed (ValueError: bad shard on rank one)" in errors[0].evalue
    shown = "\n".join(errors[0].traceback)
    assert "--- rank 1 ---" in shown and 'File "<cell>", line 4' in shown
    assert "workbench/magics" not in shown  # the user's traceback, not ours
    assert not _rank_processes(), "a rank was left behind"


def test_a_timeout_stops_every_rank(tmp_path: Path, wb_home: Path):
    source = "%%wb distributed -n 2 --timeout 20\nimport time\ntime.sleep(600)\n"
    nb = _run(tmp_path, source, allow_errors=True)
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert errors and "--timeout 20 s" in errors[0].evalue
    assert not _rank_processes()


BAD = [
    ("%%wb distributed --in nope -n 2\nx = 1", "--in: not defined in the notebook: nope"),
    ("%%wb distributed -n 0\nx = 1", "-n: between 1 and 64"),
    ("%%wb distributed\nx = 1", "the following arguments are required: -n"),
    ("%%wb distributed -n two\nx = 1", "invalid int value: 'two'"),
    ("%%wb distributed -n 2 --out 'a b'\nx = 1", "not Python names: a b"),
    ("%wb distributed -n 2", "is a cell magic"),
    ("%wb fly", "invalid choice: 'fly'"),
    ("%wb logs nosuchjob", "no job with id 'nosuchjob'"),
]


def test_bad_arguments_show_usage_not_a_traceback(tmp_path: Path, wb_home: Path):
    nb = _run(tmp_path, *(line for line, _ in BAD), allow_errors=True)
    for cell, (line, words) in zip(nb.cells[1:], BAD, strict=True):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1 and errors[0].ename == "MagicError", (line, cell.outputs)
        assert words in errors[0].evalue, (line, errors[0].evalue)
