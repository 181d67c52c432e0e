"""Jupyter server extension: the workbench REST API under ``/workbench/api/``."""

from __future__ import annotations

from typing import Any

from workbench.server.handlers import setup_handlers


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workbench.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    setup_handlers(server_app.web_app)
    server_app.log.info("workbench: REST API registered under /workbench/api/")
