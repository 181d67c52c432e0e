"""Server test fixtures: scheduler fakes shared with the jobs tests, a workbench home of its
own for every test (no request may touch ~/.workbench), and no Kubernetes cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jobs.conftest import fake_slurm  # noqa: F401  (a fixture, used by name)


@pytest.fixture(autouse=True)
def _isolated_home(wb_home: Path) -> Path:
    return wb_home


@pytest.fixture(autouse=True)
def _no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Kubernetes cluster configured, whatever this machine has (``fake_kube`` sets one)."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
