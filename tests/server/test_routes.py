"""Every route and verb of the REST API: auth, XSRF on writes, 405 for verbs it lacks."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from tornado import web
from tornado.httpclient import HTTPClientError

from workbench.server.handlers import all_routes
from workbench.server.labeling_handlers import DATASET_REF, PROJECT

ROUTES = all_routes()
VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH")
RUN_ID = "0" * 32
# one concrete path per route (the route table's regexes, filled in)
EXAMPLES = {
    "version": "version",
    "config": "config",
    "jobs": "jobs",
    r"jobs/([0-9a-zA-Z_-]+)": "jobs/abc123",
    r"jobs/([0-9a-zA-Z_-]+)/logs": "jobs/abc123/logs",
    r"jobs/([0-9a-zA-Z_-]+)/logs/stream": "jobs/abc123/logs/stream",
    r"jobs/([0-9a-zA-Z_-]+)/(cancel|retry)": "jobs/abc123/cancel",
    "models": "models",
    "experiments": "experiments",
    "runs": "runs",
    "runs/compare": "runs/compare",
    r"runs/([0-9a-f]{32})/metrics/([A-Za-z0-9_./ -]+)": f"runs/{RUN_ID}/metrics/loss",
    r"runs/([0-9a-f]{32})": f"runs/{RUN_ID}",
    r"runs/([0-9a-f]{32})/artifacts/(.+)": f"runs/{RUN_ID}/artifacts/evaluation/x.png",
    "registry": "registry",
    "train": "train",
    "schemas": "schemas",
    "select": "select",
    "studies": "studies",
    r"studies/([A-Za-z0-9][A-Za-z0-9._-]*)": "studies/digits-select",
    r"studies/([A-Za-z0-9][A-Za-z0-9._-]*)/register-best": "studies/digits-select/register-best",
    "labeling/server": "labeling/server",
    "labeling/server/(start|stop)": "labeling/server/stop",
    "labeling/projects": "labeling/projects",
    r"labeling/projects/([0-9]+)": "labeling/projects/1",
    rf"{PROJECT}/(import|predict|accept|issues|export)": "labeling/projects/1/import",
    r"labeling/projects/([0-9]+)/next": "labeling/projects/1/next",
    "datasets": "datasets",
    "datasets/diff": "datasets/diff",
    f"datasets/{DATASET_REF}": "datasets/pets@v1",
    r"operations/(op[0-9]+-[0-9]+)": "operations/op1-1",
}


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


def implemented(handler: type[web.RequestHandler]) -> set[str]:
    return {
        v
        for v in VERBS
        if getattr(handler, v.lower()) is not getattr(web.RequestHandler, v.lower())
    }


def test_every_route_has_an_example_and_a_verb():
    assert set(EXAMPLES) == {route for route, _ in ROUTES}
    assert all(implemented(handler) for _, handler in ROUTES)


async def _status(jp_fetch, path: str, verb: str, headers: dict[str, str] | None = None) -> int:
    body = {"body": "{}"} if verb in ("POST", "PUT", "PATCH") else {}
    try:
        response = await jp_fetch("workbench", "api", *path.split("/"), method=verb,
                                  headers=headers or {}, **body)  # fmt: skip
    except HTTPClientError as err:
        return err.code
    return response.code


@pytest.mark.parametrize(("route", "handler"), ROUTES, ids=[r for r, _ in ROUTES])
async def test_auth_xsrf_and_405_on_every_route(jp_fetch, jp_serverapp, route, handler):
    path, verbs = EXAMPLES[route], implemented(handler)
    for verb in verbs:  # no credentials: refused before the handler runs
        assert await _status(jp_fetch, path, verb, {"Authorization": ""}) == 403, (route, verb)
    for verb in set(VERBS) - verbs:  # a verb the route does not have: 405, never a 500
        assert await _status(jp_fetch, path, verb) == 405, (route, verb)
    # a browser session (cookie, no token) must send the XSRF token on writes
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch("workbench", "api", "version", headers={"Authorization": ""},
                           params={"token": token})  # fmt: skip
    cookie = "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie"))
    session = {"Authorization": "", "Cookie": cookie}
    for verb in verbs - {"GET"}:
        assert await _status(jp_fetch, path, verb, session) == 403, (route, verb)


async def test_slow_service_calls_do_not_block_the_server(jp_fetch, monkeypatch):
    """A job list stuck in a slow scheduler leaves every other request answering."""
    from workbench.jobs.service import JobService

    entered, release = threading.Event(), threading.Event()

    def slow_list(self, **kwargs):
        entered.set()
        release.wait(10)
        return []

    monkeypatch.setattr(JobService, "list", slow_list)
    slow = asyncio.ensure_future(jp_fetch("workbench", "api", "jobs"))
    assert await asyncio.get_running_loop().run_in_executor(None, entered.wait, 30)
    started = time.monotonic()
    version = await jp_fetch("workbench", "api", "version")
    quick = time.monotonic() - started
    assert version.code == 200 and not slow.done()
    release.set()
    assert (await slow).code == 200
    assert quick < 1.0, quick  # blocked, it would wait until the slow call is released
