"""``workbench train SPEC``: the spec is checked before anything is stored or started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from workbench.cli import app
from workbench.jobs.service import JobService

runner = CliRunner()


def write(path: Path, spec: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


def test_a_bad_spec_exits_2_and_stores_no_job(service: JobService, tmp_path: Path):
    path = write(
        tmp_path / "bad.yaml", {"name": "x", "model": {"name": "mlp"}, "train": {"epochs": 0}}
    )
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and "train.epochs" in result.output
    path = write(tmp_path / "unknown.yaml", {"name": "x", "model": {"name": "nope"}})
    result = runner.invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and "model: unknown model 'nope'" in result.output
    assert service.store.count() == 0


@pytest.mark.mpi
def test_detach_submits_the_job_with_data_beside_the_spec(
    service: JobService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "specs" / "images" / "cat").mkdir(parents=True)
    spec = {"name": "Cats", "model": {"name": "mlp"}, "data": {"source": "image_folder",
            "path": "images"}}  # fmt: skip
    path = write(tmp_path / "specs" / "train.yaml", spec)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["train", str(path), "-n", "2", "--detach"])
    assert result.exit_code == 0, result.output
    assert "submitted training job" in result.output
    [summary] = service.list()
    job = service.get(summary.id)
    assert job.name == "cats" and job.ranks == 2
    assert job.spec["working_dir"] == str(tmp_path.resolve())
    images = tmp_path.resolve() / "specs" / "images"
    assert job.spec["entry"]["spec"]["data"]["path"] == str(images)
    assert json.dumps(job.spec["entry"]["spec"]["model"]) == '{"name": "mlp", "params": {}}'
