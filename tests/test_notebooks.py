"""Every tutorial notebook runs top to bottom on a real kernel and asserts its own results.

The notebooks check what they teach (an accuracy above a floor, a value that came back from
the ranks); this test runs them, checks the plots they promise were written, and keeps the
stored notebooks free of outputs. Executed copies and plots land in test-artifacts/notebooks/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT
from tests.labeling.fixtures import free_port

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = REPO_ROOT / "test-artifacts" / "notebooks"
PLOTS = {
    "01-quickstart.ipynb": {"accuracy.png"},
    "03-distributed.ipynb": {"loss.png", "timeline.png", "allreduce.png"},
    "04-tensor-swapping.ipynb": {"peak_memory.png", "max_batch.png"},
    "05-model-selection.ipynb": {"study.png"},
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and not any(cell.outputs or cell.execution_count for cell in code), path.name


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(
    path: Path, wb_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the kernel inherits these: 02 starts a Label Studio of its own on a free port, serving
    # the images the notebook writes in its folder
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_PORT", str(free_port()))
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_FILES_ROOT", str(tmp_path))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / path.name)
    for plot in PLOTS.get(path.name, set()):
        assert (tmp_path / plot).stat().st_size > 5_000, f"{path.name} did not draw {plot}"
        shutil.copy(tmp_path / plot, ARTIFACTS / f"{path.stem}-{plot}")
    if path.name == "00-getting-started.ipynb":
        outputs = "".join(
            o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
        )
        assert str(wb_home.resolve()) in outputs
