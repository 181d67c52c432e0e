"""Route table and the one base handler that maps workbench errors to HTTP statuses.

Handlers are thin: parse input, call one service function, write JSON. Every route
is authenticated (Jupyter's token / cookie auth) and state-changing verbs are XSRF
checked by ``APIHandler``.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

import workbench
from workbench.errors import WorkbenchError

API_PREFIX = "workbench/api"


def status_for(exc: BaseException) -> int | None:
    """HTTP status for an exception the workbench knows, None for unexpected ones."""
    if isinstance(exc, WorkbenchError):
        return exc.status_code
    if isinstance(exc, pydantic.ValidationError):
        return 400
    return None


class WorkbenchHandler(APIHandler):
    """Base class of every workbench route: errors become JSON with the right status."""

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        mapped = status_for(exc_info[1]) if exc_info else None
        super().send_error(mapped or status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if value is not None and status_for(value) is not None:
            self.log.warning("workbench %s %s: %s", self.request.method, self.request.uri, value)
            return
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc_info = kwargs.get("exc_info")
        exc = exc_info[1] if exc_info else None
        if exc is None or status_for(exc) is None:
            super().write_error(status_code, **kwargs)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": str(exc), "reason": type(exc).__name__}))

    def write_json(self, payload: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))


class VersionHandler(WorkbenchHandler):
    @web.authenticated
    def get(self) -> None:
        self.write_json({"name": "workbench", "version": workbench.__version__})


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [
    ("version", VersionHandler),
]


def setup_handlers(web_app: Any) -> None:
    base_url = web_app.settings["base_url"]
    rules = [(url_path_join(base_url, API_PREFIX, path), handler) for path, handler in ROUTES]
    web_app.add_handlers(".*$", rules)
