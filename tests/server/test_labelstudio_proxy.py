"""Label Studio under the Jupyter server (``<base_url>/workbench/labelstudio/``): a real
Jupyter server with a non-root base_url and the session's real Label Studio."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from tests.labeling.fixtures import JUPYTER_BASE_URL, LabelStudioSession, free_port, write_digits
from workbench.labeling.server import PLACEHOLDER_ORIGIN
from workbench.labeling.service import LabelingService
from workbench.server.labelstudio_proxy import cookie_under

pytestmark = pytest.mark.slow
UI = "/user/wb/workbench/labelstudio"
assert UI.startswith(JUPYTER_BASE_URL)


@pytest.fixture
def jp_base_url() -> str:
    return JUPYTER_BASE_URL  # the session's Label Studio was started for this prefix


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"workbench.server": True}}}


async def _get(jp_fetch, *parts: str, **kw: Any) -> HTTPResponse:
    kw.setdefault("follow_redirects", False)
    response: HTTPResponse = await jp_fetch(
        "workbench", "labelstudio", *parts, raise_error=False, **kw
    )
    return response


def _secrets(labeling: LabelingService) -> list[str]:
    return [labeling.server.admin_password(), labeling.server.token()]


async def test_without_jupyter_auth_nothing_reaches_label_studio(jp_fetch, labeling):
    anonymous = {"Authorization": ""}
    page = await _get(jp_fetch, "projects/", headers=anonymous)
    assert page.code == 302 and page.headers["Location"].startswith(f"{JUPYTER_BASE_URL}login")
    api = await _get(jp_fetch, "api", "projects", headers=anonymous, method="DELETE")
    assert api.code == 403
    write = await _get(jp_fetch, "api", "projects", method="POST", body="{}",
                       headers={**anonymous, "Content-Type": "application/json"})  # fmt: skip
    assert write.code == 403


async def test_with_auth_label_studio_pages_api_and_images_work_under_the_prefix(
    jp_fetch, jp_serverapp, labeling: LabelingService, label_studio: LabelStudioSession
):
    folder = label_studio.folder("proxy")
    write_digits(folder, flat=2)
    record, _ = labeling.create_project("proxied", folder, classes=["0", "1"], progress=False)

    page = await _get(jp_fetch, "projects/")  # no sign-in step: the server does it
    assert page.code == 200, page.body[:500]
    html = page.body.decode()
    assert f'hostname: window.location.origin + "{UI}"' in html
    assert f'src="{UI}/react-app/main.js' in html and f'action="{UI}/user/login' not in html
    assert PLACEHOLDER_ORIGIN.split("//")[1] not in html
    cookies = [c for c in page.headers.get_list("Set-Cookie") if not c.startswith("username-")]
    assert not any(c.startswith("sessionid=") for c in cookies)  # the browser holds no session
    assert all(f"Path={UI}/" in c for c in cookies)

    projects = json.loads((await _get(jp_fetch, "api", "projects")).body)
    assert record.id in {p["id"] for p in projects["results"]}
    task_id = next(labeling.client().iter_tasks(record.id))["id"]
    task = json.loads((await _get(jp_fetch, "api", "tasks", str(task_id))).body)
    image = task["data"]["image"]
    assert image.startswith(f"{UI}/data/local-files/?d=")  # the browser's URL of the image
    assert next(labeling.client().iter_tasks(record.id))["data"]["image"].startswith("/data/")
    path, query = image.removeprefix(f"{JUPYTER_BASE_URL}").split("?")
    png = await jp_fetch(path, params=dict([query.split("=", 1)]))
    assert png.code == 200 and png.body.startswith(b"\x89PNG")

    css = await _get(jp_fetch, "react-app", "main.css")
    assert b"url(/static/" not in css.body and f"url({UI}/static/".encode() in css.body
    bare = await _get(jp_fetch)  # .../labelstudio -> .../labelstudio/
    assert bare.code == 302 and bare.headers["Location"].endswith(f"{UI}/")

    # Jupyter's token, the admin's password and the API token reach no log or page
    await _get(jp_fetch, "api", "projects", params={"token": jp_serverapp.identity_provider.token})
    log = labeling.server.log_file.read_text()
    assert jp_serverapp.identity_provider.token not in log
    for secret in _secrets(labeling):
        assert secret not in log and secret not in html


def test_label_studio_cookies_are_scoped_to_the_prefix():
    header = "csrftoken=abc; expires=Wed, 01 Dec 2027 02:20:35 GMT; Path=/; SameSite=Lax"
    assert cookie_under(header, UI) == header.replace("Path=/;", f"Path={UI}/;")
    assert cookie_under("a=b; Path=/", UI) == f"a=b; Path={UI}/"
    assert cookie_under("a=b; Path=/x", UI) == "a=b; Path=/x"


async def test_cross_site_writes_are_refused(jp_fetch, jp_serverapp, jp_http_port, labeling):
    # a browser's Jupyter session: the login cookie, no token (as in the route table's test)
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch("workbench", "api", "version", headers={"Authorization": ""},
                           params={"token": token})  # fmt: skip
    cookie = "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie"))
    browser = {"Authorization": "", "Cookie": cookie}
    gone = ("api", "projects", "999999")  # a write Label Studio answers 404 to
    other = await _get(jp_fetch, *gone, method="DELETE",
                       headers={**browser, "Origin": "http://evil.example"})  # fmt: skip
    assert other.code == 403
    here = f"http://127.0.0.1:{jp_http_port}"  # the origin jp_fetch's requests go to
    same = await _get(jp_fetch, *gone, method="DELETE", headers={**browser, "Origin": here})
    assert same.code == 404  # reached Label Studio
    flagged = await _get(jp_fetch, *gone, method="DELETE", headers={"Sec-Fetch-Site": "cross-site"})
    assert flagged.code == 403
    read = await _get(jp_fetch, "api", "projects", headers={"Sec-Fetch-Site": "cross-site"})
    assert read.code == 200


async def test_a_session_label_studio_refuses_is_made_again(jp_fetch, jp_web_app, labeling):
    sessions = jp_web_app.settings["workbench_labelstudio_session"]
    assert (await _get(jp_fetch, "projects/")).code == 200
    sessions.cookie, sessions.made_at = "not-a-session", sessions.made_at - 3600
    again = await _get(jp_fetch, "projects/", params={"page": "1"})
    assert again.code == 302  # back to the same page, which signs in anew
    assert again.headers["Location"] == f"{UI}/projects/?page=1"
    assert (await _get(jp_fetch, "projects/", params={"page": "1"})).code == 200
    assert sessions.cookie != "not-a-session"


async def test_label_studio_down_is_a_503_that_says_how_to_start_it(
    jp_fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_PORT", str(free_port()))
    page = await _get(jp_fetch, "projects/", headers={"Accept": "text/html"})
    assert page.code == 503 and page.headers["Content-Type"].startswith("text/html")
    assert b"<code>workbench label start</code>" in page.body and b"Start button" in page.body
    api = await _get(jp_fetch, "api", "projects", headers={"Accept": "application/json"})
    assert api.code == 503
    assert json.loads(api.body)["reason"] == "ServiceUnavailable"


async def test_a_server_started_for_another_path_is_a_409_that_says_what_to_do(
    jp_fetch, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    home = tmp_path / "other"
    record = {"pid": os.getpid(), "port": free_port(), "public_path": "/workbench/labelstudio"}
    (home / "labelstudio").mkdir(parents=True)
    (home / "labelstudio" / "server.json").write_text(json.dumps(record))
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    monkeypatch.setenv("WORKBENCH_LABELSTUDIO_PORT", str(record["port"]))
    page = await _get(jp_fetch, "projects/", headers={"Accept": "text/html"})
    assert page.code == 409
    assert f"serves it under {UI}".encode() in page.body and b"workbench label stop" in page.body
