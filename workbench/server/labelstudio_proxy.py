"""Label Studio inside JupyterLab: the managed server at ``<base_url>/workbench/labelstudio/``.

jupyter-server-proxy's ``ProxyHandler`` does the proxying (Jupyter's authentication on every
request, the prefix stripped on the way in, redirects kept under it). On top of it:

- Sign-in: the browser never sees Label Studio's login. The Jupyter server signs in once as
  the managed admin (the password the workbench generated, in a 0600 file) and sends that
  session cookie with every proxied request; session cookies Label Studio sets are dropped
  from responses, so Jupyter's authentication is the only gate. The session is made again
  when it ages or when Label Studio stops accepting it.
- Cross-site writes are refused (Label Studio's API accepts session writes without CSRF).
- Label Studio builds absolute links from ``LABEL_STUDIO_HOST`` = a placeholder origin + the
  public path (see ``workbench/labeling/server.py``): in pages and JSON that origin becomes
  the browser's own (``window.location.origin`` for the UI's API base, nothing elsewhere),
  and images of local-files storage (``/data/local-files/...`` in tasks) and the fonts of
  the UI's stylesheet get the prefix.
- When Label Studio is not running (or runs for another path), a 503/409 page says how to
  start it, instead of a proxy error.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import AddSlashHandler, ProxyHandler
from tornado import httputil, web

from workbench.config import LABELSTUDIO_PROXY_ROUTE, get_settings, labelstudio_public_path
from workbench.errors import ServiceUnavailable, WorkbenchError
from workbench.labeling.client import SESSION_COOKIE
from workbench.labeling.server import PLACEHOLDER_ORIGIN
from workbench.labeling.service import LabelingService

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
REWRITTEN_TYPES = ("text/html", "application/json", "javascript")
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:3em;max-width:46em;line-height:1.5}}
code{{background:#eee;padding:0 .3em}}</style></head><body><h1>{title}</h1><p>{message}</p>
<p>Then reload this tab.</p></body></html>"""


class BrowserSession:
    """The one Label Studio UI session this Jupyter server sends for its users."""

    MAX_AGE_S = 6 * 3600.0  # well inside Label Studio's inactivity and session limits

    def __init__(self) -> None:
        self.cookie: str | None = None
        self.made_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, sign_in: Callable[[], Awaitable[str]]) -> str:
        async with self._lock:  # a page load asks ~20 times at once: sign in only once
            if self.cookie is None or time.monotonic() - self.made_at > self.MAX_AGE_S:
                self.cookie = await sign_in()
                self.made_at = time.monotonic()
            return self.cookie

    def forget(self, cookie: str | None) -> bool:
        """Drop ``cookie`` (Label Studio refused it); False when it was just made."""
        if cookie is None or cookie != self.cookie:
            return True  # another request already replaced it
        fresh = time.monotonic() - self.made_at < 10
        self.cookie = None
        return not fresh


def public_body(body: bytes, content_type: str, public_path: str) -> bytes:
    """A response body as the browser must see it: links on its own origin, under the prefix."""
    if "text/css" in content_type:  # the UI's stylesheet loads its fonts from /static/
        return re.sub(rb"url\((['\"]?)/(?!/)", rb"url(\1" + public_path.encode() + rb"/", body)
    if not any(kind in content_type for kind in REWRITTEN_TYPES):
        return body
    origin = PLACEHOLDER_ORIGIN.encode()
    if "text/html" in content_type:  # the UI's API base must be absolute: `new URL(hostname)`
        body = body.replace(b'hostname: "' + origin, b'hostname: window.location.origin + "')
    body = body.replace(origin, b"")
    if "json" in content_type:  # local-files URLs stay relative in tasks (the SDK reads them)
        body = body.replace(b'"/data/local-files/', f'"{public_path}/data/local-files/'.encode())
    return body


def cookie_under(header: str, path: str) -> str:
    """A Set-Cookie header scoped to ``path`` instead of the whole origin."""
    return re.sub(r"(?i)(;\s*path=)/(?=\s*;|\s*$)", rf"\g<1>{path}/", header)


class LabelStudioProxyHandler(ProxyHandler):  # type: ignore[misc]  # untyped package
    """``<base_url>/workbench/labelstudio/<path>`` -> ``http://127.0.0.1:<port>/<path>``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        def rewrite(response: Any) -> None:  # jupyter-server-proxy passes args by name
            self._rewrite(response)

        kwargs["rewrite_response"] = [rewrite]
        super().__init__(*args, **kwargs)
        self.proxy_base = LABELSTUDIO_PROXY_ROUTE
        self._sent_cookie: str | None = None

    @property
    def public_path(self) -> str:
        return labelstudio_public_path(self.base_url)

    @property
    def labeling(self) -> LabelingService:
        settings = get_settings().model_copy(update={"labelstudio_public_path": self.public_path})
        return LabelingService(settings)

    async def prepare(self, *args: Any, **kwargs: Any) -> None:
        await super().prepare(*args, **kwargs)  # Jupyter's authentication (403/302 without)
        if self.request.method not in SAFE_METHODS and (
            not self.check_origin() or self.request.headers.get("Sec-Fetch-Site") == "cross-site"
        ):
            raise web.HTTPError(403, "cross-site request to Label Studio refused")

    async def http_get(self, path: str) -> None:
        await self.forward(path)

    async def open(self, path: str) -> None:
        raise web.HTTPError(404, "Label Studio uses no websockets")

    async def post(self, path: str) -> None:
        await self.forward(path)

    async def put(self, path: str) -> None:
        await self.forward(path)

    async def patch(self, path: str) -> None:
        await self.forward(path)

    async def delete(self, path: str) -> None:
        await self.forward(path)

    async def head(self, path: str) -> None:
        await self.forward(path)

    async def options(self, path: str) -> None:
        await self.forward(path)

    async def forward(self, path: str) -> None:
        service = self.labeling
        sessions: BrowserSession = self.settings["workbench_labelstudio_session"]
        loop = asyncio.get_running_loop()
        try:
            service.check_ui()  # reads a small pid file: no request, no wait
            self._sent_cookie = await sessions.get(
                lambda: loop.run_in_executor(None, service.browser_session)
            )
        except WorkbenchError as exc:
            self.explain(exc)
            return
        # Jupyter's token must not reach Label Studio (its request log keeps query strings)
        query = parse_qsl(self.request.query, keep_blank_values=True)
        if any(k == "token" for k, _ in query):
            self.request.query = urlencode([(k, v) for k, v in query if k != "token"])
        try:
            await self.proxy("127.0.0.1", service.settings.labelstudio_port, "/" + path)
        except web.HTTPError as exc:
            if exc.status_code not in (500, 599):
                raise
            self.explain(ServiceUnavailable(f"Label Studio did not answer: {exc.log_message}"))

    def proxy_request_headers(self) -> httputil.HTTPHeaders:
        headers: httputil.HTTPHeaders = super().proxy_request_headers()
        for name in ("Authorization", "Cookie", "Accept-Encoding"):  # Jupyter's, not LS's
            if name in headers:
                del headers[name]
        jupyter = {SESSION_COOKIE, "_xsrf", self.identity_provider.get_cookie_name(self)}
        cookies = [f"{k}={m.coded_value}" for k, m in self.request.cookies.items()
                   if k not in jupyter]  # fmt: skip
        cookies.append(f"{SESSION_COOKIE}={self._sent_cookie}")
        headers["Cookie"] = "; ".join(cookies)
        return headers

    def _rewrite_location_header(
        self, location: str, host: str, port: int, proxied_path: str
    ) -> str:
        """Label Studio redirects to prefixed paths (its reverse()) and to bare ones (its
        LOGIN_URL): prefix only the bare ones."""
        location = location.removeprefix(PLACEHOLDER_ORIGIN)
        path = urlparse(location).path
        if path == self.public_path or path.startswith(self.public_path + "/"):
            return location
        rewritten: str = super()._rewrite_location_header(location, host, port, proxied_path)
        return rewritten

    def _rewrite(self, response: Any) -> None:
        headers = httputil.HTTPHeaders()
        for name, value in response.headers.get_all():
            if name == "Set-Cookie":
                if value.split("=", 1)[0].strip() == SESSION_COOKIE:
                    continue  # the browser holds no Label Studio session: Jupyter's auth rules
                value = cookie_under(value, self.public_path)
            headers.add(name, value)
        response.headers = headers
        location = urlparse(headers.get("Location", "")).path.rstrip("/")
        if response.code == 401 or location.endswith("/user/login"):
            self._refused(response)
        kind = headers.get("Content-Type", "")
        response.body = public_body(response.body, kind, self.public_path)

    def _refused(self, response: Any) -> None:
        """Label Studio did not accept the session: forget it; a page load is sent back to
        the same URL (the next request signs in anew), an API call fails once."""
        sessions: BrowserSession = self.settings["workbench_labelstudio_session"]
        retry = sessions.forget(self._sent_cookie)
        if retry and response.code in (301, 302) and self.request.method == "GET":
            response.headers["Location"] = self.request.uri

    def explain(self, exc: WorkbenchError) -> None:
        """Why Label Studio cannot be shown, as a page (browsers) or JSON (API calls)."""
        self.set_status(exc.status_code)
        wants_html = "text/html" in self.request.headers.get("Accept", "")
        if not wants_html:
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": str(exc), "reason": type(exc).__name__}))
            return
        title = "Label Studio is not running"
        if exc.status_code != 503:
            title = "Label Studio cannot be shown here"
        message = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(str(exc)))
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE.format(title=title, message=message))


def labelstudio_routes(base_url: str) -> list[tuple[str, type[web.RequestHandler]]]:
    prefix = url_path_join(base_url, LABELSTUDIO_PROXY_ROUTE)
    return [(prefix, AddSlashHandler), (url_path_join(prefix, "(.*)"), LabelStudioProxyHandler)]
