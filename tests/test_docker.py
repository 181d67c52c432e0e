"""The Dockerfiles are checked without a docker engine: instructions, sources, entry point."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCKERFILES = sorted((REPO_ROOT / "docker").glob("*.Dockerfile"))
KNOWN = {"FROM", "RUN", "COPY", "USER", "WORKDIR", "EXPOSE", "CMD", "ENV", "ARG", "ENTRYPOINT"}


def instructions(path: Path) -> list[tuple[str, str]]:
    text = path.read_text().replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            rows.append((word.upper(), rest.strip()))
    return rows


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_well_formed(path: Path):
    rows = instructions(path)
    assert rows[0][0] == "FROM"
    assert {word for word, _ in rows} <= KNOWN
    for word, rest in rows:
        if word == "COPY":
            args = [a for a in shlex.split(rest) if not a.startswith("--")]
            for source in args[:-1]:
                assert (REPO_ROOT / source).exists(), f"{path.name}: COPY source {source} missing"
    cmd = json.loads(next(rest for word, rest in rows if word == "CMD"))
    assert cmd[0] == ".venv/bin/workbench" and cmd[1] == "lab"
    # the image installs exactly what `make lab` installs
    assert ("RUN", "python3 scripts/bootstrap.py") in rows
