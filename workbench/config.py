"""One settings object for the whole workbench.

Everything lives under one home directory (``~/.workbench``, or ``WORKBENCH_HOME``):
the embedded MLflow store, its artifacts, Label Studio's data and the job store.
Each path can be overridden by its own ``WORKBENCH_*`` variable; the MLflow tracking
URI also honours MLflow's own ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".workbench"


LABELSTUDIO_PROXY_ROUTE = "workbench/labelstudio"  # under the Jupyter server's base_url


def labelstudio_public_path(base_url: str) -> str:
    """Where a Jupyter server with ``base_url`` serves the managed Label Studio's UI."""
    return "/" + f"{base_url.strip('/')}/{LABELSTUDIO_PROXY_ROUTE}".strip("/")


def _default_public_path() -> str:
    # a JupyterHub single-user server (and its kernels and terminals) knows its prefix
    return labelstudio_public_path(os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"))


class Settings(BaseSettings):
    """Workbench settings; read from ``WORKBENCH_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Root of all workbench state.")
    mlflow_tracking_uri: str = Field(
        default="", description="MLflow tracking URI; default: sqlite store under home."
    )
    mlflow_artifacts_dir: Path | None = Field(
        default=None, description="Where the embedded MLflow store keeps artifacts."
    )
    labelstudio_data_dir: Path | None = Field(
        default=None, description="Label Studio's data directory (database, uploads, token)."
    )
    labelstudio_port: int = Field(
        default=8093, ge=1, le=65535, description="Loopback port of the managed Label Studio."
    )
    labelstudio_public_path: str = Field(
        default_factory=_default_public_path,
        description="URL path under which Jupyter serves the managed Label Studio's UI "
        "(Jupyter's base_url + workbench/labelstudio); the server is started for it.",
    )
    labelstudio_url: str = Field(
        default="", description="An external Label Studio to use instead of the managed one."
    )
    labelstudio_token_file: Path | None = Field(
        default=None, description="File holding the external Label Studio's API token (0600)."
    )
    labelstudio_files_root: Path | None = Field(
        default=None,
        description="Label Studio serves images from under this folder (default: your home).",
    )
    datasets_dir: Path | None = Field(default=None, description="Dataset versions (name@vN).")
    jobs_db: Path | None = Field(default=None, description="sqlite file of the job store.")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        path = "/" + self.labelstudio_public_path.strip("/")
        if not re.fullmatch(r"(/[A-Za-z0-9._~%@+-]+)+", path):
            raise ValueError(
                "labelstudio_public_path: a URL path like /workbench/labelstudio "
                f"(got {self.labelstudio_public_path!r})"
            )
        self.labelstudio_public_path = path
        if self.mlflow_artifacts_dir is None:
            self.mlflow_artifacts_dir = self.home / "mlartifacts"
        if self.labelstudio_data_dir is None:
            self.labelstudio_data_dir = self.home / "labelstudio"
        if self.labelstudio_files_root is None:
            self.labelstudio_files_root = Path.home()
        self.labelstudio_files_root = self.labelstudio_files_root.expanduser().resolve()
        if self.datasets_dir is None:
            self.datasets_dir = self.home / "datasets"
        if self.jobs_db is None:
            self.jobs_db = self.home / "jobs.db"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or (
                f"sqlite:///{self.home / 'mlflow.db'}"
            )
        return self

    @property
    def mlflow_db_path(self) -> Path | None:
        """The sqlite file behind the tracking URI, or None for a non-sqlite store."""
        prefix = "sqlite:///"
        if self.mlflow_tracking_uri.startswith(prefix):
            return Path(self.mlflow_tracking_uri[len(prefix) :])
        return None

    def ensure_home(self) -> Path:
        """Create the home directory (private to the user) and return it."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.home


def get_settings() -> Settings:
    """Settings as the environment says now (cheap; read fresh on every call)."""
    return Settings()
