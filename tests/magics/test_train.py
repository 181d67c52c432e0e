"""``%wb train`` in a real kernel: a real 2-rank job to success, tracked, shown live."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.magics.test_distributed import _run, _text

pytestmark = [pytest.mark.mpi, pytest.mark.slow]


def test_train_runs_a_tracked_job_and_its_widget_shows_it(tmp_path: Path, wb_home: Path):
    nb = _run(
        tmp_path,
        "job = %wb train --model mlp --data digits -n 2 --epochs 2 --wait\n"
        "print(job.state, job.record.ranks, job.run_id is not None)\n"
        "print(round(job.metrics()['test_accuracy'], 2) > 0.5)",
        "job",  # shown: the live widget
        "title, bar, latest = job.view.children\n"
        "print(bar.value, bar.max, 'succeeded' in title.value, 'test_accuracy' in latest.value)",
        "%wb train --model nope --data digits",
        allow_errors=True,
    )
    assert _text(nb.cells[1]).split() == ["succeeded", "2", "True", "True"], nb.cells[1].outputs
    shown = [o for o in nb.cells[2].outputs if o.output_type in ("display_data", "execute_result")]
    assert any("application/vnd.jupyter.widget-view+json" in o.data for o in shown), shown
    # a static copy (HTML, GitHub) has no live widget: its text says how the job ended
    text = " ".join(o.data["text/plain"] for o in shown)
    assert "succeeded" in text and "test_accuracy" in text and "VBox" not in text, text
    assert _text(nb.cells[3]).split() == ["2", "2", "True", "True"]
    (error,) = [o for o in nb.cells[4].outputs if o.output_type == "error"]
    assert error.ename == "MagicError" and "unknown model 'nope'" in error.evalue
