"""JSON Schemas of what the UI sends: the specs (its forms) and the REST bodies that carry them.

Generated from the pydantic models that validate them, so a form and the server agree.
``GET /workbench/api/schemas`` serves them (the train request's ``backend`` enum lists the
backends usable on this server); ``scripts/dump_schemas.py`` writes them, with every known
backend, to ``extensions/workbench-lab/schemas/`` for the UI's generated types.

The output is JSON Schema draft-07 as Ajv (``@rjsf/validator-ajv8``) reads it: pydantic's
``$defs`` and ``$ref`` are kept, and its tuples (draft 2020-12 ``prefixItems``) become
draft-07 ``items`` lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workbench.jobs.spec import MAX_RANKS
from workbench.selection.spec import SelectionSpec
from workbench.training.spec import TrainingSpec

DRAFT_07 = "http://json-schema.org/draft-07/schema#"


class TrainRequest(BaseModel):
    """``POST /workbench/api/train``: train a spec as a job on some ranks."""

    model_config = ConfigDict(extra="forbid")
    spec: TrainingSpec = Field(title="Training spec", description="What to train, and how.")
    ranks: int = Field(
        1, ge=1, le=MAX_RANKS, title="Ranks", description="Processes training in parallel."
    )
    backend: str = Field(
        "local", title="Backend", description="Where the job runs (GET /workbench/api/config)."
    )
    working_dir: str = Field(
        ".",
        title="Working folder",
        description="Relative to the Jupyter root: the job starts there and relative data "
        "paths are read from there.",
    )


class SelectRequest(BaseModel):
    """``POST /workbench/api/select``: run a model-selection study (each trial a job)."""

    model_config = ConfigDict(extra="forbid")
    spec: SelectionSpec = Field(
        title="Selection spec", description="The models and hyper-parameters the study searches."
    )
    working_dir: str = Field(
        ".",
        title="Working folder",
        description="Relative to the Jupyter root: trials start there and relative data "
        "paths are read from there.",
    )


def api_schemas(backends: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Every schema the UI uses, by name; ``backends``: what the train request may name."""
    train = TrainRequest.model_json_schema()
    train["properties"]["backend"]["enum"] = list(backends)
    return {
        "training": draft_07(TrainingSpec.model_json_schema()),
        "selection": draft_07(SelectionSpec.model_json_schema()),
        "train_request": draft_07(train),
        "select_request": draft_07(SelectRequest.model_json_schema()),
    }


def draft_07(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic schema as draft-07: tuples as ``items`` lists, ``$schema`` named."""
    return {"$schema": DRAFT_07, **_tuples_as_item_lists(schema)}


def _tuples_as_item_lists(node: Any) -> Any:
    if isinstance(node, list):
        return [_tuples_as_item_lists(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _tuples_as_item_lists(value) for key, value in node.items()}
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out.setdefault("additionalItems", False)
    return out
