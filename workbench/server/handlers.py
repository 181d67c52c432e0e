"""Route table of the workbench REST API under ``/workbench/api/``.

Handlers are thin: parse input, call one service function, write JSON. Every route is
authenticated (Jupyter's token / cookie auth) and state-changing verbs are XSRF checked
by ``APIHandler``; errors are mapped by :class:`WorkbenchHandler`. Each area's routes live
in a module of their own (``jobs_handlers``, ``tracking_handlers``, ...); :func:`all_routes`
is the one table they are registered from.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.utils import url_path_join
from tornado import web

import workbench
from workbench.server.base import WorkbenchHandler

API_PREFIX = "workbench/api"
Routes = list[tuple[str, type[WorkbenchHandler]]]


class VersionHandler(WorkbenchHandler):
    @web.authenticated
    def get(self) -> None:
        self.write_json({"name": "workbench", "version": workbench.__version__})


def _config(root_dir: str) -> dict[str, Any]:
    from workbench.jobs.backends import backend_availability
    from workbench.jobs.spec import MAX_RANKS
    from workbench.labeling.active import BATCH_STRATEGIES, UNCERTAINTY_STRATEGIES
    from workbench.tracking.client import tracking_ui_url

    return {
        "root_dir": root_dir,
        "backends": [b.to_dict() for b in backend_availability()],
        "limits": {"max_ranks": MAX_RANKS},
        "mlflow_ui_url": tracking_ui_url(),
        "labeling": {
            "uncertainty_strategies": list(UNCERTAINTY_STRATEGIES),
            "batch_strategies": list(BATCH_STRATEGIES),
        },
    }


class ConfigHandler(WorkbenchHandler):
    """The server's root, the backends usable here, the limits it holds requests to, the
    MLflow UI (when the tracking store is an MLflow server) and the labeling strategies."""

    @web.authenticated
    async def get(self) -> None:
        self.write_json(await self.blocking(_config, str(self.root_dir)))


class ModelsHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.training.models import describe_models

        self.write_json({"models": await self.blocking(describe_models)})


ROUTES: Routes = [
    ("version", VersionHandler),
    ("config", ConfigHandler),
    ("models", ModelsHandler),
]


def all_routes() -> Routes:
    """Every route of the API, in the order they are matched."""
    from workbench.server import (
        jobs_handlers,
        labeling_handlers,
        schema_handlers,
        selection_handlers,
        tracking_handlers,
    )

    areas = (jobs_handlers, tracking_handlers, selection_handlers, schema_handlers,
             labeling_handlers)  # fmt: skip
    return [*ROUTES, *(route for area in areas for route in area.ROUTES)]


def setup_handlers(web_app: Any) -> None:
    base_url = web_app.settings["base_url"]
    from workbench.server.labelstudio_proxy import BrowserSession, labelstudio_routes

    rules = [(url_path_join(base_url, API_PREFIX, path), handler) for path, handler in all_routes()]
    web_app.settings["workbench_labelstudio_session"] = BrowserSession()
    web_app.add_handlers(".*$", [*rules, *labelstudio_routes(base_url)])
