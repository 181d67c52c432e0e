"""``GET /workbench/api/schemas``: the JSON Schemas the UI builds its forms from."""

from __future__ import annotations

from typing import Any

from tornado import web

from workbench.server.base import WorkbenchHandler


def _schemas() -> dict[str, dict[str, Any]]:
    from workbench.jobs.backends import backend_availability
    from workbench.server.schemas import api_schemas

    return api_schemas([b.name for b in backend_availability() if b.available])


class SchemasHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        self.write_json(await self.blocking(_schemas))


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [("schemas", SchemasHandler)]
