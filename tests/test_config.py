from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import get_settings, labelstudio_public_path


def test_defaults_live_under_home(wb_home: Path):
    s = get_settings()
    assert s.home == wb_home.resolve()
    assert s.mlflow_tracking_uri == f"sqlite:///{wb_home.resolve() / 'mlflow.db'}"
    assert s.mlflow_db_path == wb_home.resolve() / "mlflow.db"
    assert s.mlflow_artifacts_dir == wb_home.resolve() / "mlartifacts"
    assert s.labelstudio_data_dir == wb_home.resolve() / "labelstudio"
    assert s.jobs_db == wb_home.resolve() / "jobs.db"


def test_default_home_is_dot_workbench(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("WORKBENCH_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert get_settings().home == (tmp_path / ".workbench").resolve()


def test_env_overrides(wb_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    monkeypatch.setenv("WORKBENCH_JOBS_DB", str(tmp_path / "other.db"))
    s = get_settings()
    assert s.mlflow_tracking_uri == "http://127.0.0.1:5000"
    assert s.mlflow_db_path is None
    assert s.jobs_db == tmp_path / "other.db"
    monkeypatch.setenv("WORKBENCH_MLFLOW_TRACKING_URI", "sqlite:////tmp/x.db")
    assert get_settings().mlflow_tracking_uri == "sqlite:////tmp/x.db"


def test_ensure_home_is_private(wb_home: Path):
    home = get_settings().ensure_home()
    assert home.is_dir()
    assert home.stat().st_mode & 0o077 == 0


def test_label_studio_public_path_follows_jupyter(wb_home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    monkeypatch.delenv("WORKBENCH_LABELSTUDIO_PUBLIC_PATH", raising=False)
    assert get_settings().labelstudio_public_path == "/workbench/labelstudio"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")  # a hub's single-user server
    assert get_settings().labelstudio_public_path == "/user/ada/workbench/labelstudio"
    assert labelstudio_public_path("/a%40b/") == "/a%40b/workbench/labelstudio"
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_PUBLIC_PATH", "/lab/ls/")
    assert get_settings().labelstudio_public_path == "/lab/ls"
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_PUBLIC_PATH", "/lab/<script>")
    with pytest.raises(ValueError, match="labelstudio_public_path: a URL path"):
        get_settings()
