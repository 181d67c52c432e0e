"""Secrets in job specs: ``env`` values may be tokens, so they are shown redacted and
written only to files only the owner can read.

Every output that shows a stored spec (REST, ``workbench jobs show --json``) goes through
:func:`redact_spec`: the keys stay (so a user sees what is set), each value becomes
:data:`REDACTED`. Files that hold env values (the sbatch script) are written with
:func:`write_private`, mode 0600 whatever the umask. On Kubernetes the values go into a
``Secret`` that the pods reference (see :mod:`workbench.jobs.backends.mpijob`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REDACTED = "***"
PRIVATE_FILE_MODE = 0o600


def redact_env(env: Mapping[str, Any]) -> dict[str, str]:
    return {key: REDACTED for key in env}


def redact_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a stored spec (JSON form) with every ``env`` value replaced."""
    shown = dict(spec)
    if isinstance(shown.get("env"), Mapping):
        shown["env"] = redact_env(shown["env"])
    return shown


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable and writable by the owner only (0600).

    The mode is set at creation (``os.open``), so the content is never readable by others,
    and reset on an existing file; a symlink at ``path`` is refused, not followed.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), PRIVATE_FILE_MODE)
        f.write(text)
