"""Jupyter server extension: the workbench REST API under ``/workbench/api/``.

An ``ExtensionApp`` so that shutdown reaches us (``stop_extension``): the job refresher
thread is stopped there. ``--WorkbenchExtension.jobs_refresh_interval`` sets how often
active jobs are refreshed from their schedulers.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from workbench.jobs.refresher import DEFAULT_INTERVAL_S
from workbench.server.handlers import setup_handlers
from workbench.server.jobs_runtime import ServerJobs


class WorkbenchExtension(ExtensionApp):
    name = "workbench"
    load_other_extensions = True
    jobs_refresh_interval = Float(
        DEFAULT_INTERVAL_S, config=True, help="Seconds between refreshes of active jobs."
    )

    def initialize_handlers(self) -> None:
        self.jobs = ServerJobs(interval=self.jobs_refresh_interval)
        assert self.serverapp is not None  # linked before handlers are made
        web_app = self.serverapp.web_app
        web_app.settings["workbench_jobs"] = self.jobs
        setup_handlers(web_app)
        threading.Thread(target=_refresh_tracking_statistics, name="wb-stats", daemon=True).start()
        self.log.info("workbench: REST API registered under /workbench/api/")

    async def stop_extension(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.jobs.stop)


def _refresh_tracking_statistics() -> None:
    """Runs written while no server was up (CLI, notebooks) get their statistics now, off
    the event loop, so the first sorted query of the UI is fast."""
    from workbench.tracking.client import refresh_store_statistics

    refresh_store_statistics()


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "workbench.server", "app": WorkbenchExtension}]
