"""Jupyter server extension: the workbench REST API under ``/workbench/api/``."""

from __future__ import annotations

import threading
from typing import Any

from workbench.server.handlers import setup_handlers


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workbench.server"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    setup_handlers(server_app.web_app)
    threading.Thread(target=_refresh_tracking_statistics, name="wb-stats", daemon=True).start()
    server_app.log.info("workbench: REST API registered under /workbench/api/")


def _refresh_tracking_statistics() -> None:
    """Runs written while no server was up (CLI, notebooks) get their statistics now, off
    the event loop, so the first sorted query of the UI is fast."""
    from workbench.tracking.client import refresh_store_statistics

    refresh_store_statistics()
