"""The one base handler: workbench errors become JSON with the right HTTP status."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pydantic
from jupyter_server.base.handlers import APIHandler

from workbench.errors import InvalidInput, WorkbenchError
from workbench.paths import path_inside
from workbench.validation import invalid_input

if TYPE_CHECKING:
    from workbench.server.operations import Operations

T = TypeVar("T")


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
        if isinstance(exc, pydantic.ValidationError):
            exc = invalid_input(exc, "invalid request", root="body")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": str(exc), "reason": type(exc).__name__}))

    def write_json(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def json_body(self) -> Any:
        try:
            return json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"request body is not JSON: {exc}") from exc

    def int_argument(self, name: str, default: int | None) -> int | None:
        raw = self.get_argument(name, None)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput(f"{name}: must be an integer (got {raw!r})") from None

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (a service call) on a thread; the event loop stays free."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    @property
    def operations(self) -> Operations:
        """This server's background operations (made on first use)."""
        from workbench.server.operations import Operations

        ops = self.settings.get("workbench_operations")
        if ops is None:
            ops = self.settings["workbench_operations"] = Operations()
        return ops

    def start_operation(
        self, kind: str, work: Callable[[], Any], *, key: str | None = None, long: bool = False,
        **extra: Any,
    ) -> None:  # fmt: skip
        """Answer 202 with a background operation that runs ``work``; the UI polls it.
        ``key`` and ``long``: see :meth:`Operations.submit`; ``extra`` joins the answer."""
        op = self.operations.submit(kind, work, key=key, long=long)
        self.set_header("Location", f"{self.base_url}workbench/api/operations/{op.id}")
        self.write_json({**op.to_dict(), **extra}, status=202)

    @property
    def root_dir(self) -> Path:
        """The Jupyter server's root: every path a request names stays under it."""
        return Path(self.settings["server_root_dir"]).expanduser().resolve()

    def user_path(self, raw: Any, what: str) -> Path:
        """A path from a request, relative to the server's root, that may not leave it."""
        if not isinstance(raw, str):
            raise InvalidInput(f"{what}: a path relative to the Jupyter root is required")
        return path_inside(self.root_dir, raw, what)
