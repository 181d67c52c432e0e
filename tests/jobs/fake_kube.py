"""A recorded Kubernetes API on loopback, for the real ``kubernetes`` client to talk to.

Routes answer with recordings from ``fixtures/kubernetes`` (the API server's JSON for an
MPIJob named ``wb-mnist-3f2a9c1e`` in ``default`` and the env Secret it owns; the name and
namespace in the request path are substituted in). ``server.answers`` picks the recording
(or a status code, or a list of them used in turn) per route; ``server.requests`` keeps
every request (method, path, query, JSON body).
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

RECORDINGS = Path(__file__).resolve().parent / "fixtures" / "kubernetes"
RECORDED_NAME, RECORDED_NAMESPACE = "wb-mnist-3f2a9c1e", "default"
MPIJOBS = r"/apis/kubeflow\.org/v2beta1/namespaces/(?P<ns>[^/]+)/mpijobs"
ROUTES = [
    ("POST", re.compile(MPIJOBS + "$"), "create"),
    ("GET", re.compile(MPIJOBS + "/(?P<name>[^/]+)$"), "get"),
    ("DELETE", re.compile(MPIJOBS + "/(?P<name>[^/]+)$"), "delete"),
    ("POST", re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/secrets$"), "create_secret"),
    ("GET", re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/pods$"), "pods"),
    ("GET", re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$"), "log"),
]


def recording(name: str) -> str:
    return (RECORDINGS / name).read_text()


class _Handler(BaseHTTPRequestHandler):
    server: FakeKubeServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def _serve(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.server.requests.append(
            {"method": self.command, "path": url.path, "query": parse_qs(url.query), "body": body}
        )
        for method, pattern, route in ROUTES:
            match = pattern.match(url.path)
            if method == self.command and match:
                self._answer(route, match.groupdict())
                return
        self._send(404, _status(404, "NotFound", f"no route for {self.command} {url.path}"))

    def _answer(self, route: str, params: dict[str, str]) -> None:
        answer = self.server.answers.get(route, 404)
        if isinstance(answer, list):  # one per request; the last one repeats
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, int):
            self._send(answer, _status(answer, "Failure", f"recorded status {answer}"))
            return
        text = recording(answer).replace(RECORDED_NAME, self._job_name(params))
        text = text.replace(
            f'"namespace": "{RECORDED_NAMESPACE}"', f'"namespace": "{params["ns"]}"'
        )
        kind = "text/plain" if answer.endswith(".log") else "application/json"
        self._send(201 if route == "create" else 200, text, kind)

    def _job_name(self, params: dict[str, str]) -> str:
        """The MPIJob this request is about: in the path, the body, the selector or a pod."""
        request = self.server.requests[-1]
        selector = request["query"].get("labelSelector", [""])[0]
        by_label = re.search(r"training\.kubeflow\.org/job-name=([^,]+)", selector)
        by_pod = re.match(r"(.+)-launcher-[a-z0-9]+$", params.get("pod", ""))
        metadata = (request["body"] or {}).get("metadata", {})
        owners = metadata.get("ownerReferences") or [{}]  # a Secret the MPIJob owns
        return (
            params.get("name")
            or owners[0].get("name")
            or metadata.get("name")
            or (by_label[1] if by_label else None)
            or (by_pod[1] if by_pod else RECORDED_NAME)
        )

    def _send(self, code: int, text: str, kind: str = "application/json") -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve


def _status(code: int, reason: str, message: str) -> str:
    return json.dumps(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
         "message": message, "reason": reason, "code": code}
    )  # fmt: skip


class FakeKubeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answers: dict[str, Any] = {}  # route -> recording name, status code, or a list
        self.requests: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> FakeKubeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            "apiVersion: v1\nkind: Config\n"
            f"clusters:\n- name: fake\n  cluster:\n    server: {self.url}\n"
            "users:\n- name: fake\n  user:\n    token: test-token\n"
            "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
            "current-context: fake\n"
        )
        return path
