"""REST routes of tracking: experiments, pages of runs, a run's detail, metric histories,
comparisons, artifact files and the model registry. Each runs one query of
:mod:`workbench.tracking` on a worker thread with the store's client."""

from __future__ import annotations

import re
from typing import Any

from tornado import web

from workbench.errors import InvalidInput
from workbench.server.base import WorkbenchHandler

RUN = r"runs/([0-9a-f]{32})"


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


class RunHandler(TrackingHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        from workbench.tracking.queries import run_detail

        self.write_json(await self.query(run_detail, run_id))


class ArtifactHandler(TrackingHandler):
    """One artifact file's bytes: images and text inline, anything else as a download."""

    @web.authenticated
    async def get(self, run_id: str, path: str) -> None:
        from workbench.tracking.artifacts import read_artifact

        artifact = await self.query(read_artifact, run_id, path)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "private, max-age=300")  # a run's files never change
        if not artifact.inline:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", artifact.path.rsplit("/", 1)[-1])
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
        self.finish(artifact.content, set_content_type=artifact.content_type)


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


class RegistryHandler(TrackingHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.tracking.registry import registered_models

        self.write_json({"models": await self.query(registered_models)})


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [
    ("experiments", ExperimentsHandler),
    ("runs", RunsHandler),
    ("runs/compare", CompareHandler),
    (RUN, RunHandler),
    (rf"{RUN}/metrics/([A-Za-z0-9_./ -]+)", MetricHistoryHandler),
    (rf"{RUN}/artifacts/(.+)", ArtifactHandler),
    ("registry", RegistryHandler),
]
