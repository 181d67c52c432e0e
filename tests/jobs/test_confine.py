"""Confining a spec to a root (what the REST API asks of the service) and the CLI's freedom."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workbench.errors import InvalidInput
from workbench.jobs.confine import confine_to
from workbench.jobs.service import JobService
from workbench.jobs.spec import parse_spec


def script_spec(**fields: Any) -> dict[str, Any]:
    return {"name": "x", "entry": {"kind": "script", "path": "t.py"}, **fields}


def training_spec(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    training = {"name": "x", "model": {"name": "mlp"}, "data": data, **fields}
    return {"name": "t", "entry": {"kind": "training", "spec": training}}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "root" / "project").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    return tmp_path / "root"


def test_working_dir_is_relative_to_the_root_and_defaults_to_it(root: Path) -> None:
    assert confine_to(script_spec(), root)["working_dir"] == str(root)
    assert confine_to(script_spec(working_dir="project"), root)["working_dir"] == str(
        root / "project"
    )
    inside = str(root / "project" / ".." / "project")
    assert confine_to(script_spec(working_dir=inside), root)["working_dir"] == str(root / "project")


def test_a_symlink_out_of_the_root_is_refused(root: Path) -> None:
    (root / "escape").symlink_to(root.parent / "outside", target_is_directory=True)
    with pytest.raises(InvalidInput, match=r"working_dir: 'escape' is outside the Jupyter root"):
        confine_to(script_spec(working_dir="escape"), root)
    spec = training_spec({"source": "manifest", "path": "escape/m.json"})
    with pytest.raises(InvalidInput, match=r"entry.spec.data.path: 'escape/m.json' is outside"):
        confine_to(spec, root)


def test_training_paths_become_absolute_inside(root: Path) -> None:
    spec = training_spec(
        {"source": "manifest", "path": "../project/m.json"},
        checkpoint_dir="ckpt",
    )
    spec["working_dir"] = "project"
    training = confine_to(spec, root)["entry"]["spec"]
    assert training["data"]["path"] == str(root / "project" / "m.json")  # ranks run elsewhere
    assert training["checkpoint_dir"] == str(root / "project" / "ckpt")
    assert spec["entry"]["spec"]["data"]["path"] == "../project/m.json"  # input left alone


def test_kubernetes_working_dirs_are_container_paths_and_left_alone(root: Path) -> None:
    spec = script_spec(backend="kubernetes", working_dir="/workspace")
    assert confine_to(spec, root) == spec


def test_the_service_confines_only_when_given_a_root(
    service: JobService, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    (outside / "t.py").write_text("print('hi')\n")
    with pytest.raises(InvalidInput, match=r"working_dir: .* is outside the Jupyter root"):
        service.submit(script_spec(working_dir=str(outside)), root=root)
    assert service.store.count() == 0
    local = service.backend("local")  # without a root (the CLI): the user's own directory
    assert local.prepare(parse_spec(script_spec(working_dir=str(outside)))).working_dir == str(
        outside
    )
