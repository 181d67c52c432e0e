"""Route table of the workbench REST API under ``/workbench/api/``.

Handlers are thin: parse input, call one service function, write JSON. Every route is
authenticated (Jupyter's token / cookie auth) and state-changing verbs are XSRF checked
by ``APIHandler``; errors are mapped by :class:`WorkbenchHandler`.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.utils import url_path_join
from tornado import web

import workbench
from workbench.jobs.service import JobService
from workbench.server.base import WorkbenchHandler

API_PREFIX = "workbench/api"


class VersionHandler(WorkbenchHandler):
    @web.authenticated
    def get(self) -> None:
        self.write_json({"name": "workbench", "version": workbench.__version__})


class JobsHandler(WorkbenchHandler):
    @property
    def jobs(self) -> JobService:
        service = self.settings.get("workbench_jobs")
        if service is None:
            service = self.settings["workbench_jobs"] = JobService()
        return service

    @web.authenticated
    def get(self) -> None:
        limit = self.int_argument("limit", 100)
        offset = self.int_argument("offset", 0) or 0
        jobs = self.jobs.list(state=self.get_argument("state", None), limit=limit, offset=offset)
        self.write_json({"jobs": [j.to_dict() for j in jobs]})

    @web.authenticated
    def post(self) -> None:
        self.write_json(self.jobs.submit(self.json_body()).to_dict(), status=201)


class JobHandler(JobsHandler):
    @web.authenticated
    def get(self, job_id: str) -> None:  # type: ignore[override]
        self.write_json(self.jobs.get(job_id).to_dict())


class JobLogsHandler(JobsHandler):
    @web.authenticated
    def get(self, job_id: str) -> None:  # type: ignore[override]
        rank = self.int_argument("rank", None)
        tail = self.int_argument("tail", 200)
        lines = self.jobs.logs(job_id, rank=rank, tail=tail)
        self.write_json(
            {"lines": [{"rank": ln.rank, "stream": ln.stream, "text": ln.text} for ln in lines]}
        )


class JobActionHandler(JobsHandler):
    @web.authenticated
    def post(self, job_id: str, action: str) -> None:  # type: ignore[override]
        record = self.jobs.cancel(job_id) if action == "cancel" else self.jobs.retry(job_id)
        self.write_json(record.to_dict(), status=200 if action == "cancel" else 201)


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [
    ("version", VersionHandler),
    ("jobs", JobsHandler),
    (r"jobs/([0-9a-zA-Z_-]+)", JobHandler),
    (r"jobs/([0-9a-zA-Z_-]+)/logs", JobLogsHandler),
    (r"jobs/([0-9a-zA-Z_-]+)/(cancel|retry)", JobActionHandler),
]


def setup_handlers(web_app: Any) -> None:
    base_url = web_app.settings["base_url"]
    rules = [(url_path_join(base_url, API_PREFIX, path), handler) for path, handler in ROUTES]
    web_app.add_handlers(".*$", rules)
