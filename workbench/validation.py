"""The one way a pydantic ``ValidationError`` becomes a message a user can act on.

    try:
        spec = JobSpec.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise invalid_input(exc, "invalid job spec", hidden={"env"}) from None

Each broken rule is one ``field.path: what is wrong (got value)`` part; values of fields
named in ``hidden`` (secrets) and long values are never shown.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pydantic

from workbench.errors import InvalidInput, NotFound

_SHOWN_LENGTH = 60


def read_mapping_file(path: Path, what: str) -> dict[str, Any]:
    """The mapping of fields a YAML or JSON file holds (JSON is YAML); ``what`` names the
    file in errors (``training spec``, ``selection spec``...)."""
    import yaml

    if not path.is_file():
        raise NotFound(f"{what} {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"{what} {path}: cannot be read as YAML/JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{what} {path}: must hold a mapping of fields")
    return data


def problems(
    exc: pydantic.ValidationError,
    *,
    root: str = "spec",
    tags: Mapping[str, Collection[str]] | None = None,
    hidden: Collection[str] = (),
) -> list[str]:
    """One line per error. ``tags``: a tagged-union field's tags, dropped from paths
    (``entry.script.path`` reads ``entry.path``); ``hidden``: top-level fields whose
    values may be secrets."""
    return [_describe(err, root, tags or {}, hidden) for err in exc.errors()]


def invalid_input(
    exc: pydantic.ValidationError,
    what: str,
    *,
    root: str = "spec",
    tags: Mapping[str, Collection[str]] | None = None,
    hidden: Collection[str] = (),
    first_only: bool = False,
) -> InvalidInput:
    """An :class:`InvalidInput` saying ``what: problem; problem``."""
    found = problems(exc, root=root, tags=tags, hidden=hidden)
    return InvalidInput(f"{what}: {'; '.join(found[:1] if first_only else found)}")


def _describe(
    err: Any, root: str, tags: Mapping[str, Collection[str]], hidden: Collection[str]
) -> str:
    loc = [str(part) for part in err["loc"]]
    if len(loc) > 1 and loc[1] in tags.get(loc[0], ()):
        del loc[1]  # the discriminator's tag is not a field the user wrote
    message = str(err["msg"]).removeprefix("Value error, ")
    if loc[-1:] == ["[key]"]:  # a bad key of a mapping
        message = f"key {loc[-2]!r}: {message}"
        loc = loc[:-2]
    if err["type"] in {"union_tag_not_found", "union_tag_invalid"}:
        known = tags.get(loc[0], ()) if loc else ()
        loc.append(str((err.get("ctx") or {}).get("discriminator", "kind")).strip("'"))
        if err["type"] == "union_tag_not_found":
            message = "Field required" + (f" (one of {', '.join(known)})" if known else "")
    field = ".".join(loc) if loc else root
    if ":" in message.split(" ", 1)[0]:  # a model-level message already names its field
        return message
    shown = "" if loc[:1] and loc[0] in hidden else _shown(err.get("input"))
    return f"{field}: {message}{shown}"


def _shown(value: Any) -> str:
    if isinstance(value, bool | int | float) or (
        isinstance(value, str) and len(value) <= _SHOWN_LENGTH
    ):
        return f" (got {value!r})"
    return ""
