"""Paths from users stay under their root: the one rule, for every layer that takes one."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import InvalidInput


def path_inside(
    root: Path,
    raw: str,
    field: str,
    *,
    base: Path | None = None,
    root_name: str = "the Jupyter root",
) -> Path:
    """``raw`` resolved (``..`` and symlinks too) against ``base`` (default ``root``); the
    result must lie inside ``root``. An absolute ``raw`` is taken as it is, so it too must
    be inside. Raises :class:`InvalidInput` naming ``field`` otherwise.
    """
    if not raw.strip():
        raise InvalidInput(f"{field}: a path relative to {root_name} is required")
    if "\x00" in raw:
        raise InvalidInput(f"{field}: a path may not contain NUL bytes")
    top = root.expanduser().resolve()
    path = ((base or top) / raw.strip()).resolve()
    if not path.is_relative_to(top):
        raise InvalidInput(f"{field}: {raw!r} is outside {root_name} {top}")
    return path
