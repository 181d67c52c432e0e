"""``training_job``: the one builder of a training job, whoever asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import InvalidInput
from workbench.jobs.training_job import job_name, training_job
from workbench.training.spec import parse_spec

SPEC = {"name": "Digits_CNN", "experiment": "digits", "model": {"name": "small_cnn"}}


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("keras_mobilenet_v2-digits", "keras-mobilenet-v2-digits"),
        ("A" * 40, "a" * 32),
        ("x" * 31 + "_y", "x" * 31),
        ("digits-select-trial-3", "digits-select-trial-3"),
        ("__", "job"),
    ],
)
def test_job_names_are_dns_labels(raw: str, name: str):
    assert job_name(raw) == name


def test_the_job_trains_the_spec_with_its_defaults(tmp_path: Path):
    job = training_job(SPEC, ranks=3, working_dir=tmp_path)
    assert job.name == "digits-cnn" and job.ranks == 3 and job.backend == "local"
    assert job.entry.kind == "training"
    assert job.entry.spec == parse_spec(SPEC).model_dump(mode="json")
    assert job.working_dir == str(tmp_path.resolve())
    assert job.mlflow_experiment == "digits"
    assert training_job(parse_spec(SPEC), working_dir=tmp_path) == training_job(
        SPEC, working_dir=tmp_path
    )


def test_a_relative_data_path_is_made_absolute_from_the_spec_dir(tmp_path: Path):
    spec = {**SPEC, "data": {"source": "image_folder", "path": "images"}}
    beside_spec = training_job(spec, working_dir=tmp_path, spec_dir=tmp_path / "specs")
    assert beside_spec.entry.spec["data"]["path"] == str(tmp_path / "specs" / "images")
    in_working_dir = training_job(spec, working_dir=tmp_path)
    assert in_working_dir.entry.spec["data"]["path"] == str(tmp_path.resolve() / "images")


def test_with_a_root_the_data_path_may_not_leave_it(tmp_path: Path):
    escaping = {**SPEC, "data": {"source": "image_folder", "path": "../outside"}}
    with pytest.raises(InvalidInput, match=r"data\.path: .*outside is outside"):
        training_job(escaping, working_dir=tmp_path, root=tmp_path)
    inside = {**SPEC, "data": {"source": "image_folder", "path": "images"}}
    assert training_job(inside, working_dir=tmp_path, root=tmp_path).entry.spec["data"]["path"]


@pytest.mark.parametrize(
    ("spec", "fields", "message"),
    [
        ({"name": "x"}, {}, "training spec: model: Field required"),
        ([1, 2], {}, "training spec: must be a mapping"),
        (SPEC, {"ranks": 0}, "ranks: Input should be greater than or equal to 1"),
        (SPEC, {"backend": "moon"}, "backend: must be one of"),
        (SPEC, {"backend": "kubernetes"}, "kubernetes: required"),
    ],
)
def test_bad_input_names_the_field(tmp_path: Path, spec, fields, message: str):
    with pytest.raises(InvalidInput, match=message):
        training_job(spec, working_dir=tmp_path, **fields)
