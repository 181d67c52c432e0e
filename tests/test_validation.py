"""The one formatter of pydantic errors: field paths, shown values, hidden secrets."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
import pytest

from workbench.errors import InvalidInput
from workbench.validation import invalid_input, problems


class Script(pydantic.BaseModel):
    kind: Literal["script"]
    path: str


class Module(pydantic.BaseModel):
    kind: Literal["module"]
    module: str


class Spec(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=8)
    ranks: int = pydantic.Field(ge=1)
    env: dict[str, str] = {}
    entry: Annotated[Script | Module, pydantic.Field(discriminator="kind")]


def _errors(raw: dict[str, object]) -> pydantic.ValidationError:
    with pytest.raises(pydantic.ValidationError) as info:
        Spec.model_validate(raw)
    return info.value


def test_each_problem_names_its_field_and_short_values():
    exc = _errors({"name": "n" * 9, "ranks": 0, "entry": {"kind": "script"}})
    found = problems(exc, tags={"entry": ("script", "module")})
    assert found[0] == f"name: String should have at most 8 characters (got {'n' * 9!r})"
    assert found[1] == "ranks: Input should be greater than or equal to 1 (got 0)"
    assert found[2] == "entry.path: Field required"  # the tag 'script' is not a field


def test_secret_fields_and_long_values_are_never_shown():
    exc = _errors({"name": "x" * 500, "ranks": 1, "env": {"TOKEN": 42}, "entry": {"kind": "x"}})
    found = problems(exc, hidden={"env"})
    assert not any("x" * 61 in p for p in found)
    assert "env.TOKEN: Input should be a valid string" in found
    assert all("42" not in p for p in found)
    assert any(p.startswith("entry.kind: ") and "'script', 'module'" in p for p in found)


def test_a_missing_tag_names_the_discriminator():
    exc = _errors({"name": "a", "ranks": 1, "entry": {"path": "x.py"}})
    assert problems(exc) == ["entry.kind: Field required"]
    tags = {"entry": ("script", "module")}
    assert problems(exc, tags=tags) == ["entry.kind: Field required (one of script, module)"]


def test_invalid_input_joins_the_problems_or_keeps_the_first():
    exc = _errors({"name": "a", "ranks": 0})
    error = invalid_input(exc, "job spec")
    assert isinstance(error, InvalidInput) and error.status_code == 400
    assert str(error) == (
        "job spec: ranks: Input should be greater than or equal to 1 (got 0); entry: Field required"
    )
    assert str(invalid_input(exc, "job spec", first_only=True)).count(";") == 0
