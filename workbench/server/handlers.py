"""Route table of the workbench REST API under ``/workbench/api/``.

Handlers are thin: parse input, call one service function, write JSON. Every route is
authenticated (Jupyter's token / cookie auth) and state-changing verbs are XSRF checked
by ``APIHandler``; errors are mapped by :class:`WorkbenchHandler`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from jupyter_server.utils import url_path_join
from tornado import web

import workbench
from workbench.errors import InvalidInput
from workbench.jobs.service import JobService
from workbench.jobs.store import JobRecord
from workbench.server.base import WorkbenchHandler
from workbench.server.jobs_runtime import ServerJobs

API_PREFIX = "workbench/api"
T = TypeVar("T")


class VersionHandler(WorkbenchHandler):
    @web.authenticated
    def get(self) -> None:
        self.write_json({"name": "workbench", "version": workbench.__version__})


class ConfigHandler(WorkbenchHandler):
    @web.authenticated
    def get(self) -> None:
        self.write_json({"root_dir": str(self.root_dir)})


class JobsServiceMixin(WorkbenchHandler):
    """The one job service of this server (each route below defines only its own verbs)."""

    async def jobs(self, call: Callable[[JobService], T]) -> T:
        """Run ``call(service)`` on a worker thread (the first call also builds the service)."""
        runtime: ServerJobs = self.settings["workbench_jobs"]
        return await self.blocking(lambda: call(runtime.service()))


class JobsHandler(JobsServiceMixin):
    @web.authenticated
    async def get(self) -> None:
        limit = self.int_argument("limit", 100)
        offset = self.int_argument("offset", 0) or 0
        state = self.get_argument("state", None)
        jobs = await self.jobs(lambda s: s.list(state=state, limit=limit, offset=offset))
        self.write_json({"jobs": [j.to_dict() for j in jobs]})

    @web.authenticated
    async def post(self) -> None:
        body, root = self.json_body(), self.root_dir  # paths may not leave the Jupyter root
        record = await self.jobs(lambda s: s.submit(body, root=root))
        self.write_json(record.to_dict(), status=201)


class JobHandler(JobsServiceMixin):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        record = await self.jobs(lambda s: s.get(job_id))
        self.write_json(record.to_dict())


class JobLogsHandler(JobsServiceMixin):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        rank = self.int_argument("rank", None)
        tail = self.int_argument("tail", 200)
        lines = await self.jobs(lambda s: list(s.logs(job_id, rank=rank, tail=tail)))
        self.write_json(
            {"lines": [{"rank": ln.rank, "stream": ln.stream, "text": ln.text} for ln in lines]}
        )


class JobActionHandler(JobsServiceMixin):
    @web.authenticated
    async def post(self, job_id: str, action: str) -> None:
        if action == "cancel":  # 202: it is cancelling; polling shows it become cancelled
            record = await self.jobs(lambda s: s.cancel(job_id))
            self.write_json(record.to_dict(), status=202)
            return
        record = await self.jobs(lambda s: s.retry(job_id))
        self.write_json(record.to_dict(), status=201)


class ModelsHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.training.models import describe_models

        self.write_json({"models": await self.blocking(describe_models)})


class TrackingHandler(WorkbenchHandler):
    """MLflow queries: each runs on a worker thread with the store's client."""

    async def query(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from workbench.tracking.client import tracking_client

        return await self.blocking(lambda: fn(tracking_client(), *args, **kwargs))


class ExperimentsHandler(TrackingHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.tracking.queries import list_experiments

        self.write_json({"experiments": await self.query(list_experiments)})


class RunsHandler(TrackingHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.tracking.queries import search_runs

        experiments = self.get_arguments("experiment_id")
        if not experiments:
            raise InvalidInput("experiment_id: at least one is required")
        page = await self.query(
            search_runs,
            experiments,
            filter_string=self.get_argument("filter", ""),
            order_by=self.get_arguments("order_by") or None,
            page_size=self.int_argument("page_size", 50) or 50,
            page_token=self.get_argument("page_token", None),
        )
        self.write_json({"runs": page.runs, "next_page_token": page.next_page_token})


class MetricHistoryHandler(TrackingHandler):
    @web.authenticated
    async def get(self, run_id: str, key: str) -> None:
        from workbench.tracking.queries import metric_history

        history = await self.query(metric_history, run_id, key)
        self.write_json({"run_id": run_id, "key": key, "history": history})


class CompareHandler(TrackingHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.tracking.queries import compare_runs

        self.write_json(await self.query(compare_runs, self.get_arguments("run_id")))


class TrainHandler(JobsServiceMixin):
    """``{"spec": <training spec>, "ranks": N, "backend"?, "working_dir"?}`` -> the job (201).

    The server builds the job (:func:`training_job`); ``working_dir`` (default: the server's
    root) and the spec's ``data.path`` may not leave the root.
    """

    FIELDS = frozenset({"spec", "ranks", "backend", "working_dir"})

    @web.authenticated
    async def post(self) -> None:
        from workbench.jobs.training_job import training_job

        body = self.json_body()
        if not isinstance(body, dict) or "spec" not in body:
            raise InvalidInput('request body: a JSON object {"spec": {...}, "ranks": N} is needed')
        if unknown := sorted(set(body) - self.FIELDS):
            raise InvalidInput(f"{unknown[0]}: not a field of a training request")
        working_dir = self.user_path(body.get("working_dir", "."), "working_dir")
        root = self.root_dir

        def submit(service: JobService) -> JobRecord:
            job = training_job(
                body["spec"],
                ranks=body.get("ranks", 1),
                backend=body.get("backend", "local"),
                working_dir=working_dir,
                root=root,
            )
            return service.submit(job, root=root)

        record = await self.jobs(submit)
        self.write_json(record.to_dict(), status=201)


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [
    ("version", VersionHandler),
    ("config", ConfigHandler),
    ("jobs", JobsHandler),
    (r"jobs/([0-9a-zA-Z_-]+)", JobHandler),
    (r"jobs/([0-9a-zA-Z_-]+)/logs", JobLogsHandler),
    (r"jobs/([0-9a-zA-Z_-]+)/(cancel|retry)", JobActionHandler),
    ("models", ModelsHandler),
    ("experiments", ExperimentsHandler),
    ("runs", RunsHandler),
    ("runs/compare", CompareHandler),
    (r"runs/([0-9a-f]{32})/metrics/([A-Za-z0-9_./ -]+)", MetricHistoryHandler),
    ("train", TrainHandler),
]


def setup_handlers(web_app: Any) -> None:
    from workbench.server.labeling_handlers import ROUTES as LABELING_ROUTES
    from workbench.server.labelstudio_proxy import BrowserSession, labelstudio_routes

    base_url = web_app.settings["base_url"]
    routes = [*ROUTES, *LABELING_ROUTES]
    rules = [(url_path_join(base_url, API_PREFIX, path), handler) for path, handler in routes]
    web_app.settings["workbench_labelstudio_session"] = BrowserSession()
    web_app.add_handlers(".*$", [*rules, *labelstudio_routes(base_url)])
