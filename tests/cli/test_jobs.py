"""``workbench jobs ...`` through typer's runner: output, exit codes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.jobs.conftest import spec_for, wait_for
from workbench.cli import app
from workbench.jobs.service import JobService

runner = CliRunner()


def write_spec(workdir: Path, script: str, *args: str, **fields: object) -> Path:
    spec = spec_for(workdir, script, *args, **fields)
    del spec["working_dir"]  # the CLI defaults it to the spec file's folder
    path = workdir / f"{script}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


@pytest.mark.mpi
def test_submit_wait_list_show_logs(service: JobService, workdir: Path) -> None:
    result = runner.invoke(
        app, ["jobs", "submit", str(write_spec(workdir, "allreduce.py")), "--wait"]
    )
    assert result.exit_code == 0, result.output
    assert "submitted job" in result.output and "succeeded" in result.output
    [job] = service.list()

    listed = runner.invoke(app, ["jobs", "list"])
    assert listed.exit_code == 0 and job.id in listed.output and "succeeded" in listed.output
    as_json = json.loads(runner.invoke(app, ["jobs", "list", "--json"]).output)
    assert [j["id"] for j in as_json] == [job.id] and as_json[0]["state"] == "succeeded"

    shown = runner.invoke(app, ["jobs", "show", job.id])
    assert shown.exit_code == 0 and "rank 0: 0, rank 1: 0" in shown.output

    logs = runner.invoke(app, ["jobs", "logs", job.id, "--rank", "1", "--tail", "5"])
    assert logs.exit_code == 0
    assert "[1:out] rank 1 of 2: allreduce sum 3" in logs.output
    assert "[0:out]" not in logs.output


@pytest.mark.mpi
def test_a_failing_job_exits_1_with_its_reason(service: JobService, workdir: Path) -> None:
    result = runner.invoke(app, ["jobs", "submit", str(write_spec(workdir, "exit3.py")), "--wait"])
    assert result.exit_code == 1
    assert "rank 1 exited with code 3" in result.output


@pytest.mark.mpi
def test_cancel_from_the_command_line(service: JobService, workdir: Path) -> None:
    submitted = runner.invoke(
        app, ["jobs", "submit", str(write_spec(workdir, "sleeper.py")), "--json"]
    )
    assert submitted.exit_code == 0, submitted.output
    job_id = json.loads(submitted.output)["id"]
    wait_for(lambda: (workdir / "pid-1").exists(), timeout=60)
    result = runner.invoke(app, ["jobs", "cancel", job_id])
    assert result.exit_code == 0 and "cancelled" in result.output
    again = runner.invoke(app, ["jobs", "cancel", job_id])
    assert again.exit_code == 1 and "already cancelled" in again.output


def test_malformed_spec_exits_2_naming_each_field(service: JobService, workdir: Path) -> None:
    path = write_spec(workdir, "allreduce.py", ranks=0, timeout_s=-1)
    result = runner.invoke(app, ["jobs", "submit", str(path)])
    assert result.exit_code == 2
    assert "invalid job spec" in result.output
    assert "ranks: Input should be greater than or equal to 1" in result.output
    assert "timeout_s: Input should be greater than 0" in result.output
    assert service.store.count() == 0


def test_bad_input_exits_2(service: JobService, workdir: Path) -> None:
    garbage = workdir / "garbage.yaml"
    garbage.write_text("[unclosed")
    assert runner.invoke(app, ["jobs", "submit", str(garbage)]).exit_code == 2
    assert runner.invoke(app, ["jobs", "submit", str(workdir / "missing.yaml")]).exit_code == 2
    listed = runner.invoke(app, ["jobs", "list", "--state", "sleeping"])
    assert listed.exit_code == 2 and "state: must be one of" in listed.output


def test_unknown_job_exits_1(service: JobService) -> None:
    for command in (["show", "nope"], ["logs", "nope"], ["cancel", "nope"]):
        result = runner.invoke(app, ["jobs", *command])
        assert result.exit_code == 1 and "no job with id 'nope'" in result.output


def test_empty_list(service: JobService) -> None:
    result = runner.invoke(app, ["jobs", "list"])
    assert result.exit_code == 0 and "no jobs" in result.output
