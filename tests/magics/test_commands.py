"""``%wb`` line magics in a real kernel: each returns a Python object from a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tests.magics.test_distributed import _run, _text
from workbench.config import get_settings
from workbench.tracking.runs import RunLogger
from workbench.training.data.versions import DatasetRegistry, NewItem


def test_runs_datasets_jobs_and_doctor_return_tables(tmp_path: Path, wb_home: Path):
    for name, acc in (("first", 0.5), ("second", 0.9)):
        with RunLogger("magic", name) as run:
            run.log_params({"model": "mlp"})
            run.log_metrics({"test_accuracy": acc}, step=0)
    images = tmp_path / "pets"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((4, 4), i * 60, np.uint8)).save(images / f"{i}.png")
    items = [NewItem(images / f"{i}.png", f"{i}.png", label="cat") for i in range(3)]
    registry = DatasetRegistry(get_settings().datasets_dir)  # type: ignore[arg-type]
    registry.publish("pets", ["cat"], items)

    nb = _run(
        tmp_path,
        "runs = %wb runs -e magic --order-by 'metrics.test_accuracy DESC'\n"
        "print(list(runs.run_name), list(runs['metrics.test_accuracy']), list(runs.columns))",
        "sets = %wb datasets\nprint(sets.to_dict('records'))",
        "jobs = %wb jobs\nprint(type(jobs).__name__, len(jobs), list(jobs.columns)[:4])",
        "checks = %wb doctor\nprint(type(checks).__name__, 'mpiexec' in set(checks.name))",
        "%wb runs -e nothing",
        allow_errors=True,
    )
    assert _text(nb.cells[1]).startswith(
        "['second', 'first'] [0.9, 0.5] ['run_id', 'run_name', 'status', 'params.model', "
        "'metrics.test_accuracy']"
    )
    assert "'name': 'pets', 'versions': 1, 'latest': 'pets@v1', 'items': 3" in _text(nb.cells[2])
    assert _text(nb.cells[3]).strip() == "DataFrame 0 ['id', 'name', 'backend', 'state']"
    assert _text(nb.cells[4]).strip() == "DataFrame True"
    (error,) = [o for o in nb.cells[5].outputs if o.output_type == "error"]
    assert error.ename == "MagicError" and error.traceback == [
        "MagicError: %wb runs: no experiment named 'nothing' (experiments: magic, Default)"
    ]
