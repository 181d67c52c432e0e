"""``GET /workbench/api/schemas`` and the copies committed for the UI's generated types."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.conftest import REPO_ROOT
from tests.jobs.conftest import FakeSlurm

SCHEMAS_DIR = REPO_ROOT / "extensions" / "workbench-lab" / "schemas"
NAMES = {"training", "selection", "train_request", "select_request"}
# keywords of later drafts that a draft-07 validator (Ajv's default) would not apply
LATER_KEYWORDS = {
    "prefixItems", "$dynamicRef", "$dynamicAnchor", "unevaluatedProperties", "unevaluatedItems",
    "dependentSchemas", "dependentRequired", "$recursiveRef",
}  # fmt: skip
TRAINING = {"name": "mlp-digits", "model": {"name": "mlp"}, "data": {"source": "digits"},
            "train": {"epochs": 1}}  # fmt: skip
SELECTION = {"name": "s", "models": {"mlp": {"hidden": {"categorical": [[32], [64]]}}}}


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


def _dump_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dump_schemas", REPO_ROOT / "scripts" /
                                                  "dump_schemas.py")  # fmt: skip
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_schemas_are_what_the_script_writes_now():
    files = _dump_script().rendered()
    committed = {p.name: p.read_text() for p in SCHEMAS_DIR.glob("*.json")}
    assert set(files) == {f"{name}.json" for name in NAMES}
    stale = sorted(n for n in files.keys() | committed.keys() if files.get(n) != committed.get(n))
    assert not stale, f"run `python scripts/dump_schemas.py` and commit: {stale} differ"


def test_the_script_writes_sorted_two_space_json_with_short_arrays_on_one_line():
    text = _dump_script().to_json({"b": [1, 2], "a": {"c": ["x" * 100]}, "e": []})
    assert text == (
        '{\n  "a": {\n    "c": [\n      "' + "x" * 100 + '"\n    ]\n  },\n'
        '  "b": [1, 2],\n  "e": []\n}\n'
    )


def _walk(node: Any, path: str = "#"):
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}/{i}")


def _committed(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS_DIR / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(NAMES))
def test_schemas_are_draft_07_and_every_field_has_a_label(name: str):
    schema = _committed(name)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    unlabeled, later = [], []
    for path, node in _walk(schema):
        later += [f"{path}/{k}" for k in LATER_KEYWORDS & set(node)]
        for field, prop in (node.get("properties") or {}).items():
            if not (prop.get("title") and prop.get("description")):
                unlabeled.append(f"{path}/properties/{field}")
    assert not later, later
    assert not unlabeled, f"fields without a title and description: {unlabeled}"


@pytest.mark.parametrize(
    ("name", "instance", "valid"),
    [
        ("training", TRAINING, True),
        ("training", {**TRAINING, "data": {"image_size": [32, 32]}}, True),
        ("training", {**TRAINING, "data": {"image_size": [32, 32, 3]}}, False),  # a 2-tuple
        ("training", {**TRAINING, "data": {"shape": [1, "x", 8]}}, False),
        ("training", {"name": "x"}, False),  # model is required
        ("training", {**TRAINING, "train": {"lr": 0}}, False),
        ("training", {**TRAINING, "colour": "red"}, False),
        ("selection", SELECTION, True),
        ("selection", {**SELECTION, "pruner": "random"}, False),
        ("train_request", {"spec": TRAINING, "ranks": 4, "backend": "slurm"}, True),
        ("train_request", {"spec": TRAINING, "ranks": 1025}, False),
        ("train_request", {"spec": TRAINING, "backend": "moon"}, False),
        ("select_request", {"spec": SELECTION, "working_dir": "work"}, True),
        ("select_request", {"spec": {**SELECTION, "trials": 0}}, False),
    ],
)
def test_a_draft_07_validator_holds_specs_to_the_schemas(name: str, instance: Any, valid: bool):
    errors = list(Draft7Validator(_committed(name)).iter_errors(instance))
    assert (not errors) == valid, [e.message for e in errors]


async def test_the_server_serves_them_with_its_usable_backends(jp_fetch):
    body = json.loads((await jp_fetch("workbench", "api", "schemas")).body)
    assert set(body) == NAMES
    for name in NAMES - {"train_request"}:
        assert body[name] == _committed(name)
    ranks = body["train_request"]["properties"]["ranks"]
    assert (ranks["minimum"], ranks["maximum"]) == (1, 1024)
    backend = body["train_request"]["properties"]["backend"]
    assert backend["enum"] == ["local"] and backend["default"] == "local"
    assert body["train_request"]["properties"]["spec"]["$ref"] == "#/$defs/TrainingSpec"


async def test_a_backend_found_on_this_machine_joins_the_enum(jp_fetch, fake_slurm: FakeSlurm):
    body = json.loads((await jp_fetch("workbench", "api", "schemas")).body)
    assert body["train_request"]["properties"]["backend"]["enum"] == ["local", "slurm"]
