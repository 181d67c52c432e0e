"""Bad training specs fail before any rank starts, with messages naming what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from workbench.errors import InvalidInput, NotFound
from workbench.training.spec import load_spec

GOOD = {"name": "digits-cnn", "model": {"name": "small_cnn"}, "data": {"source": "digits"}}


def _write(tmp_path: Path, spec: object, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec) if name.endswith(".yaml") else json.dumps(spec))
    return path


def test_good_spec_yaml_and_json(tmp_path: Path):
    assert load_spec(_write(tmp_path, GOOD)).train.epochs == 10
    assert load_spec(_write(tmp_path, GOOD, "spec.json")).model.name == "small_cnn"


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"model": {"name": "resnet1"}}, "InvalidInput", "model: unknown model 'resnet1'"),
        (
            {"model": {"name": "small_cnn", "params": {"width": "wide"}}},
            "InvalidInput",
            "model 'small_cnn': width: Input should be a valid integer",
        ),
        ({"data": {"source": "image_folder"}}, "InvalidInput", "data.path is required"),
        (
            {"data": {"source": "image_folder", "path": "nowhere"}},
            "InvalidInput",
            "is not a directory",
        ),
        (
            {"data": {"source": "manifest", "path": "missing.json"}},
            "NotFound",
            "manifest .*missing.json does not exist",
        ),
        ({"train": {"epochs": 0}}, "InvalidInput", "train.epochs: Input should be greater"),
        ({"train": {"optimizer": "lbfgs"}}, "InvalidInput", "train.optimizer: Input should be"),
        ({"name": "../escape"}, "InvalidInput", "name: String should match pattern"),
        ({"surprise": 1}, "InvalidInput", "surprise: Extra inputs are not permitted"),
    ],
)
def test_bad_specs(tmp_path: Path, change, error, message):
    with pytest.raises((InvalidInput, NotFound)) as err:
        load_spec(_write(tmp_path, {**GOOD, **change}))
    assert type(err.value).__name__ == error
    assert err.match(message)


def test_corrupt_manifest_fails_the_spec(tmp_path: Path):
    (tmp_path / "manifest.json").write_text('{"format": "workbench.dataset/1"}')
    with pytest.raises(InvalidInput, match="corrupt dataset manifest"):
        load_spec(
            _write(tmp_path, {**GOOD, "data": {"source": "manifest", "path": "manifest.json"}})
        )


def test_unreadable_files(tmp_path: Path):
    with pytest.raises(NotFound):
        load_spec(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(InvalidInput, match="cannot be read as YAML/JSON"):
        load_spec(bad)
    bad.write_text("- a list")
    with pytest.raises(InvalidInput, match="must hold a mapping of fields"):
        load_spec(bad)
