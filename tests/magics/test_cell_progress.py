"""A ``%wb`` command's progress in a real kernel: one line per bar, ending at its final count,
and no tqdm lines on stderr (a notebook saves each of those as a line of its own)."""

from __future__ import annotations

from pathlib import Path

from tests.magics.test_distributed import _run


def test_a_bar_is_one_output_line_redrawn_to_its_final_count(tmp_path: Path, wb_home: Path):
    nb = _run(
        tmp_path,
        "from workbench.magics.cell_progress import CellProgress\n"
        "from workbench.progress import bar, reporting_to\n"
        "with reporting_to(CellProgress(), terminal=False):\n"
        "    with bar(200, 'importing') as meter:\n"
        "        for _ in range(200):\n"
        "            meter.update()",
    )
    outputs = nb.cells[1].outputs
    assert not [o for o in outputs if o.output_type == "stream"], outputs
    (line,) = [o.data["text/plain"] for o in outputs if o.output_type == "display_data"]
    assert line.startswith("importing: 200/200 · "), line
