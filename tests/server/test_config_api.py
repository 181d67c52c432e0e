"""``GET /workbench/api/config``: the server's root directory, for job working dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def test_config_reports_absolute_root_dir(jp_fetch, jp_root_dir: Path):
    response = await jp_fetch("workbench", "api", "config")
    assert response.code == 200
    body = json.loads(response.body)
    assert Path(body["root_dir"]).is_absolute()
    assert Path(body["root_dir"]) == jp_root_dir.resolve()


async def test_config_needs_a_token(jp_fetch):
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch("workbench", "api", "config", headers={"Authorization": ""})
    assert err.value.code == 403
