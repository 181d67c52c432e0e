"""Server test fixtures: scheduler fakes shared with the jobs tests, and a workbench home of
its own for every test (no request may touch ~/.workbench)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.conftest import fake_slurm  # noqa: F401  (a fixture, used by name)


@pytest.fixture(autouse=True)
def _isolated_home(wb_home: Path) -> Path:
    return wb_home
