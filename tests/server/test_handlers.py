"""The REST API through a real Jupyter server: auth, version, error mapping."""

from __future__ import annotations

import json
from typing import ClassVar

import pytest
from jupyter_server.utils import url_path_join
from tornado.httpclient import HTTPClientError

import workbench
from workbench.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable
from workbench.server.base import WorkbenchHandler


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def test_version_needs_a_token(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "version", headers={"Authorization": ""})
    assert err.value.code == 403


async def test_version_with_token(jp_fetch):
    response = await jp_fetch("workbench", "api", "version")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.body) == {"name": "workbench", "version": workbench.__version__}


class _Raiser(WorkbenchHandler):
    errors: ClassVar[dict[str, Exception]] = {
        "invalid": InvalidInput("ranks must be >= 1, got 0"),
        "missing": NotFound("job 42 does not exist"),
        "conflict": Conflict("job 42 already finished"),
        "down": ServiceUnavailable("Label Studio is not running"),
        "crash": RuntimeError("boom"),
    }

    def get(self, kind: str) -> None:
        raise self.errors[kind]


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("invalid", 400, "InvalidInput"),
        ("missing", 404, "NotFound"),
        ("conflict", 409, "Conflict"),
        ("down", 503, "ServiceUnavailable"),
    ],
)
async def test_base_handler_maps_errors(jp_fetch, jp_serverapp, jp_base_url, kind, status, reason):
    route = url_path_join(jp_base_url, "workbench/api/_raise/(.*)")
    jp_serverapp.web_app.add_handlers(".*$", [(route, _Raiser)])
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "_raise", kind)
    assert err.value.code == status
    body = json.loads(err.value.response.body)
    assert body == {"message": str(_Raiser.errors[kind]), "reason": reason}


async def test_unexpected_errors_stay_500(jp_fetch, jp_serverapp, jp_base_url):
    route = url_path_join(jp_base_url, "workbench/api/_raise/(.*)")
    jp_serverapp.web_app.add_handlers(".*$", [(route, _Raiser)])
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "_raise", "crash")
    assert err.value.code == 500
