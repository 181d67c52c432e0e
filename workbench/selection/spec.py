"""The selection spec: which models and hyper-parameters a study searches, and how.

name: digits-select
experiment: digits-selection
base: {data: {source: digits}, train: {epochs: 4, batch_size: 32}}
models:
  small_cnn: {width: {int: [8, 48], log: true}}
  mlp: {hidden: {categorical: [[64], [128, 64]]}}
search: {lr: {float: [0.01, 0.2], log: true}}
metric: test_accuracy
trials: 12
parallel: 2
pruner: asha
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator

from workbench.errors import InvalidInput, NotFound
from workbench.training.models import get_model_entry
from workbench.training.spec import NAME_PATTERN, parse_spec
from workbench.validation import invalid_input, read_mapping_file

# {"int": [lo, hi], "log": bool} | {"float": [lo, hi], "log": bool} | {"categorical": [...]}
Distribution = dict[str, Any]


class SelectionSpec(BaseModel):
    """An Optuna study over models of the zoo and their hyper-parameters; each trial trains."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1,
        max_length=200,
        pattern=NAME_PATTERN,
        title="Study name",
        description="The Optuna study (re-running a name resumes it) and its parent MLflow run.",
    )
    experiment: str = Field(
        "selection",
        min_length=1,
        title="Experiment",
        description="The MLflow experiment the study's runs are logged to.",
    )
    base: dict[str, Any] = Field(
        default_factory=dict,
        title="Base training spec",
        description="What every trial shares: a training spec without name and model "
        "(data, train, ...).",
    )
    models: dict[str, dict[str, Distribution]] = Field(
        min_length=1,
        title="Models",
        description="Each model to try, with the search space of its hyper-parameters: "
        "{param: {int: [lo, hi]} | {float: [lo, hi], log: true} | {categorical: [...]}}.",
    )
    search: dict[str, Distribution] = Field(
        default_factory=dict,
        title="Training search space",
        description="Search space of train.* fields (lr, batch_size, ...), same form as models'.",
    )
    metric: str = Field(
        "test_accuracy",
        title="Metric",
        description="The MLflow metric each trial is judged (and pruned) by, logged per epoch.",
    )
    direction: Literal["maximize", "minimize"] = Field(
        "maximize", title="Direction", description="Whether a higher or a lower metric is better."
    )
    trials: int = Field(
        12, ge=1, le=10_000, title="Trials", description="Finished trials the study runs to."
    )
    parallel: int = Field(
        1,
        ge=1,
        le=64,
        title="Parallel trials",
        description="Trials run at once (at most the cores divided by the ranks).",
    )
    ranks: int = Field(1, ge=1, le=1024, title="Ranks", description="Ranks of each trial's job.")
    pruner: Literal["none", "asha", "hyperband"] = Field(
        "asha",
        title="Pruner",
        description="Stops unpromising trials early: asha (successive halving), hyperband, none.",
    )
    seed: int = Field(0, title="Seed", description="Seed of the TPE sampler.")
    register_model: str | None = Field(
        None,
        title="Register best as",
        description="Register the best trial's model under this MLflow model name.",
    )

    @model_validator(mode="after")
    def _check(self) -> SelectionSpec:
        for model, space in self.models.items():
            try:
                fields = get_model_entry(model).params.model_fields
            except NotFound as exc:  # a spec naming no model of the zoo is a bad spec
                raise ValueError(f"models.{model}: {exc}") from None
            for param, dist in space.items():
                if param not in fields:
                    raise ValueError(f"models.{model}.{param}: not a hyper-parameter of {model}")
                _check_distribution(f"models.{model}.{param}", dist)
        for param, dist in self.search.items():
            _check_distribution(f"search.{param}", dist)
        try:
            parse_spec({**self.base, "name": "check", "model": {"name": next(iter(self.models))}})
        except InvalidInput as exc:
            raise ValueError(f"base: {exc}") from None
        return self


def _check_distribution(where: str, dist: Distribution) -> None:
    kinds = {"int", "float", "categorical"} & set(dist)
    if len(kinds) != 1 or not set(dist) <= {"int", "float", "categorical", "log"}:
        raise ValueError(f"{where}: give exactly one of int/float/categorical (and optional log)")
    (kind,) = kinds
    values = dist[kind]
    if kind == "categorical":
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: categorical needs a non-empty list")
    elif not (
        isinstance(values, list)
        and len(values) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        and values[0] < values[1]
    ):
        raise ValueError(f"{where}: {kind} needs [low, high] with low < high")


def load_selection_spec(path: Path, trials: int | None = None) -> SelectionSpec:
    """A selection spec from a YAML or JSON file (``trials`` overrides the file's)."""
    raw = read_mapping_file(path, "selection spec")
    if trials is not None:
        raw["trials"] = trials
    try:
        return SelectionSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise invalid_input(exc, f"selection spec {path}") from None
