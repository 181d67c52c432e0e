"""REST routes of labeling and datasets, and the operations that long work runs as.

Quick reads run on a worker thread (``blocking``); anything that can take long (starting
Label Studio, imports, predictions, label errors, exports) answers 202 with an operation
that ``GET /workbench/api/operations/<id>`` reports on, progress included.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from tornado import web

from workbench.config import get_settings, labelstudio_public_path
from workbench.errors import InvalidInput
from workbench.labeling.service import LabelingService
from workbench.server.base import WorkbenchHandler

PROJECT = r"labeling/projects/([0-9]+)"
DATASET_REF = r"([A-Za-z0-9][A-Za-z0-9._-]*(?:(?:@|%40)v[0-9]+)?)"  # @ may come encoded


class LabelingHandler(WorkbenchHandler):
    @property
    def labeling(self) -> LabelingService:
        """Settings read fresh (cheap, follows the environment); Label Studio is started for
        the URL path this Jupyter serves its UI under (labelstudio_proxy.py)."""
        public = {"labelstudio_public_path": labelstudio_public_path(self.base_url)}
        return LabelingService(get_settings().model_copy(update=public))

    def body_field(
        self, body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any
    ) -> Any:
        value = body.get(name, default)
        if value is not None and (
            not isinstance(value, kind) or isinstance(value, bool) != (kind is bool)
        ):
            names = (
                kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            )
            raise InvalidInput(f"{name}: expected {names}, got {json.dumps(value)}")
        return value

    def body(self) -> dict[str, Any]:
        raw = self.json_body()
        if not isinstance(raw, dict):
            raise InvalidInput("request body must be a JSON object")
        return raw


class ServerStatusHandler(LabelingHandler):
    @web.authenticated
    async def get(self) -> None:
        status = await self.blocking(self.labeling.status)
        self.write_json(status.to_dict())


class ServerActionHandler(LabelingHandler):
    @web.authenticated
    async def post(self, action: str) -> None:
        service = self.labeling
        if action == "start":
            self.start_operation("labeling.start",
                                 lambda: service.start(progress=False).to_dict())  # fmt: skip
        else:
            status = await self.blocking(service.stop)
            self.write_json(status.to_dict())


class ProjectsHandler(LabelingHandler):
    @web.authenticated
    async def get(self) -> None:
        self.write_json({"projects": await self.blocking(self.labeling.list_projects)})

    @web.authenticated
    async def post(self) -> None:
        body = self.body()
        title = self.body_field(body, "title", str, None)
        if not title:
            raise InvalidInput("title: required (3-50 characters)")
        dataset = self.body_field(body, "dataset", str, None)
        images = None if dataset else self.user_path(body.get("images"), "images")
        template = self.body_field(body, "template", str, "classification")
        if template not in ("classification", "boxes"):
            raise InvalidInput(f"template: classification or boxes, not {template!r}")
        classes = self.body_field(body, "classes", list, None)
        if classes is not None and not all(isinstance(c, str) and c for c in classes):
            raise InvalidInput("classes: a list of non-empty strings")
        service = self.labeling

        def create() -> dict[str, Any]:
            record, result = service.create_project(
                title, images, dataset=dataset, template=template, classes=classes,
                progress=False,
            )  # fmt: skip
            return {"project": service.projects.summary(record), "import": result.to_dict()}

        self.start_operation("labeling.create", create)


class ProjectHandler(LabelingHandler):
    @web.authenticated
    async def get(self, project: str) -> None:
        service = self.labeling
        await self.blocking(service.check_project, project)
        self.write_json(await self.blocking(service.project, project))


class ProjectActionHandler(LabelingHandler):
    @web.authenticated
    async def post(self, project: str, action: str) -> None:
        service = self.labeling
        work = self._work(project, action, self.body(), service)
        await self.blocking(service.check_project, project)
        self.start_operation(f"labeling.{action}", work)

    def _work(
        self, project: str, action: str, body: dict[str, Any], service: LabelingService
    ) -> Callable[[], Any]:
        field = functools.partial(self.body_field, body)
        if action == "import":
            return functools.partial(service.import_images, project, progress=False)
        if action == "predict":
            model, auto = field("model", str, None), bool(field("auto", bool, False))
            strategy = field("strategy", str, "least-confidence")
            service.check_predict(model, auto, strategy)
            return functools.partial(
                service.predict, project, model=model, auto=auto, strategy=strategy,
                min_per_class=field("min_per_class", int, 5), progress=False,
            )  # fmt: skip
        if action == "accept":
            threshold = field("min_confidence", (int, float), 0.0)
            return functools.partial(service.accept, project, float(threshold))
        if action == "issues":
            top, view = field("top", int, 50), bool(field("view", bool, True))
            return functools.partial(service.label_errors, project, top, view)
        dataset = field("dataset", str, None)
        if not dataset:
            raise InvalidInput("dataset: the name the export is published under")
        return functools.partial(service.export, project, dataset)


class NextHandler(LabelingHandler):
    @web.authenticated
    async def get(self, project: str) -> None:
        n = self.int_argument("n", 20) or 20
        strategy = self.get_argument("strategy", "least-confidence")
        service = self.labeling
        await self.blocking(service.check_project, project)
        self.write_json(await self.blocking(service.next_batch, project, n, strategy))


class DatasetsHandler(LabelingHandler):
    @web.authenticated
    async def get(self) -> None:
        self.write_json({"datasets": await self.blocking(self.labeling.datasets)})


class DatasetHandler(LabelingHandler):
    @web.authenticated
    async def get(self, ref: str) -> None:
        self.write_json(await self.blocking(self.labeling.dataset, ref))


class DatasetDiffHandler(LabelingHandler):
    @web.authenticated
    async def get(self) -> None:
        base, other = self.get_argument("base", ""), self.get_argument("other", "")
        if not base or not other:
            raise InvalidInput("base and other: two dataset versions NAME@vN are required")
        self.write_json(await self.blocking(self.labeling.diff, base, other))


class OperationHandler(WorkbenchHandler):
    @web.authenticated
    def get(self, op_id: str) -> None:
        self.write_json(self.operations.get(op_id).to_dict())


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [
    ("labeling/server", ServerStatusHandler),
    ("labeling/server/(start|stop)", ServerActionHandler),
    ("labeling/projects", ProjectsHandler),
    (PROJECT, ProjectHandler),
    (rf"{PROJECT}/(import|predict|accept|issues|export)", ProjectActionHandler),
    (rf"{PROJECT}/next", NextHandler),
    ("datasets", DatasetsHandler),
    ("datasets/diff", DatasetDiffHandler),
    (rf"datasets/{DATASET_REF}", DatasetHandler),
    (r"operations/(op[0-9]+-[0-9]+)", OperationHandler),
]
