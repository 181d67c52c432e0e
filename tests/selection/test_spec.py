"""Selection specs: every broken rule is refused with a message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.selection import SELECTION
from workbench.errors import InvalidInput, NotFound
from workbench.selection.spec import SelectionSpec, load_selection_spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"models": {"small_cnn": {"widht": {"int": [4, 8]}}}}, "not a hyper-parameter"),
        ({"models": {"small_cnn": {"width": {"int": [8, 4]}}}}, "low < high"),
        ({"models": {"small_cnn": {"width": {"int": [4, 8], "float": [1, 2]}}}}, "exactly one"),
        ({"models": {"nope": {}}}, "unknown model 'nope'"),
        ({"trials": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_selection_specs(change, message):
    with pytest.raises((ValueError, InvalidInput, NotFound), match=message):
        SelectionSpec.model_validate({**SELECTION, **change})


def test_load_from_a_file_with_trials_overridden(tmp_path: Path):
    path = tmp_path / "select.yaml"
    path.write_text(yaml.safe_dump(SELECTION))
    assert load_selection_spec(path, trials=3).trials == 3


def test_load_names_the_file_and_the_field(tmp_path: Path):
    path = tmp_path / "select.yaml"
    path.write_text(yaml.safe_dump({**SELECTION, "trials": 0}))
    with pytest.raises(InvalidInput, match=r"select.yaml: trials: Input should be greater"):
        load_selection_spec(path)
    path.write_text("[unclosed")
    with pytest.raises(InvalidInput, match="cannot be read as YAML"):
        load_selection_spec(path)
    path.write_text("- a list")
    with pytest.raises(InvalidInput, match="must hold a mapping"):
        load_selection_spec(path)
