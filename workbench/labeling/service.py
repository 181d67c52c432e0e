"""The labeling service: what the CLI, REST handlers and magics call.

It holds the managed (or external) Label Studio, the projects the workbench made in it
and the dataset registry; each method is one user-visible action.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.config import Settings, get_settings
from workbench.errors import InvalidInput, ServiceUnavailable
from workbench.labeling.active import UNCERTAINTY_STRATEGIES
from workbench.labeling.assist import Assistant, accept_predictions
from workbench.labeling.autolabel import MIN_PER_CLASS
from workbench.labeling.client import LabelStudioClient, sign_in
from workbench.labeling.export import export_project
from workbench.labeling.projects import ImportResult, ProjectBook, ProjectRecord, Projects, Template
from workbench.labeling.server import ADMIN_USER, LabelStudioServer, ServerStatus
from workbench.training.data.versions import DatasetRegistry


class LabelingService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.server = LabelStudioServer(self.settings)
        assert self.settings.datasets_dir is not None
        assert self.settings.labelstudio_data_dir is not None
        self.registry = DatasetRegistry(self.settings.datasets_dir)
        self.book = ProjectBook(self.settings.labelstudio_data_dir / "workbench-projects")
        self._client: LabelStudioClient | None = None

    # the server
    def status(self) -> ServerStatus:
        return self.server.status()

    def start(self, progress: bool = True) -> ServerStatus:
        return self.server.start(progress=progress)

    def stop(self) -> ServerStatus:
        self._client = None
        return self.server.stop()

    def check_ui(self) -> None:
        """Whether Jupyter can show the managed server's UI now (cheap: no request to it)."""
        self.server.check_serves_ui()

    def browser_session(self) -> str:
        """A UI session of the managed admin for the JupyterLab proxy to send with each
        request. A secret: it never goes to a browser, a log or a response."""
        self.server.check_serves_ui()
        return sign_in(self.server.url, ADMIN_USER, self.server.admin_password())

    def client(self) -> LabelStudioClient:
        if self._client is None:
            if self.server.managed and self.server.status().pid is None:
                raise ServiceUnavailable(
                    "Label Studio is not running: start it with `workbench label start`"
                )
            self._client = LabelStudioClient(self.server.url, self.server.token())
        return self._client

    @property
    def projects(self) -> Projects:
        assert self.settings.labelstudio_files_root is not None
        return Projects(self.client(), self.book, self.settings.labelstudio_files_root)

    # projects
    def list_projects(self) -> list[dict[str, Any]]:
        projects = self.projects
        alive = {p["id"] for p in self.client().projects()}
        return [projects.summary(r) for r in self.book.all() if r.id in alive]

    def create_project(
        self,
        title: str,
        images: Path | None = None,
        *,
        dataset: str | None = None,
        template: Template = "classification",
        classes: list[str] | None = None,
        progress: bool = True,
    ) -> tuple[ProjectRecord, ImportResult]:
        if dataset is not None:
            return self.projects.create_from_dataset(title, dataset, self.registry, progress)
        if images is None:
            raise InvalidInput("a project needs --images DIR or --dataset NAME@vN")
        return self.projects.create(title, images, template, classes, progress)

    def import_images(self, project: str, progress: bool = True) -> ImportResult:
        return self.projects.reimport(project, progress)

    def check_project(self, project: str) -> None:
        """NotFound for a project the workbench did not make, without asking Label Studio
        (so a typo answers 404 at once, also while Label Studio is stopped)."""
        self.book.find(project)

    @staticmethod
    def check_predict(model: str | None, auto: bool, strategy: str) -> None:
        """The arguments of :meth:`predict`, checked before any work starts."""
        if auto == (model is not None):
            raise InvalidInput("predict needs exactly one of --auto or --model NAME[@VERSION]")
        if strategy not in UNCERTAINTY_STRATEGIES:
            raise InvalidInput(
                f"strategy: one of {', '.join(UNCERTAINTY_STRATEGIES)} (got {strategy!r})"
            )

    def project(self, project: str) -> dict[str, Any]:
        projects = self.projects
        return projects.summary(projects.find(project))

    # the model in the loop
    def assistant(self, project: str, progress: bool = True) -> Assistant:
        assert self.settings.labelstudio_data_dir is not None
        cache = self.settings.labelstudio_data_dir / "cache"
        projects = self.projects
        return Assistant(projects, projects.find(project), cache, progress)

    def predict(
        self,
        project: str,
        *,
        model: str | None = None,
        auto: bool = False,
        min_per_class: int = MIN_PER_CLASS,
        strategy: str = "least-confidence",
        progress: bool = True,
    ) -> dict[str, Any]:
        """Pre-label the unlabeled tasks: with the auto-labeler or a registered model."""
        self.check_predict(model, auto, strategy)
        assistant = self.assistant(project, progress)
        if model is not None:
            return assistant.predict_with_model(model, self.settings.mlflow_tracking_uri, strategy)
        return assistant.autolabel(min_per_class, strategy)

    def next_batch(
        self, project: str, n: int = 20, strategy: str = "least-confidence"
    ) -> dict[str, Any]:
        return self.assistant(project, progress=False).next_batch(n, strategy)

    def accept(self, project: str, min_confidence: float = 0.0) -> dict[str, Any]:
        return accept_predictions(self.client(), self.projects.find(project), min_confidence)

    def label_errors(self, project: str, top: int = 50, view: bool = True) -> dict[str, Any]:
        return self.assistant(project, progress=False).label_errors(top, view)

    # exports and datasets
    def export(self, project: str, dataset: str) -> dict[str, Any]:
        record = self.projects.find(project)
        manifest, created = export_project(self.client(), record, dataset, self.registry)
        return {**self.registry.describe(manifest.ref), "created": created}

    def datasets(self) -> list[dict[str, Any]]:
        found = []
        for name in self.registry.names():
            versions = self.registry.versions(name)
            latest = self.registry.describe(f"{name}@v{versions[-1]}")
            found.append({"name": name, "versions": versions, "latest": latest})
        return found

    def dataset(self, ref: str) -> dict[str, Any]:
        return self.registry.describe(ref)

    def diff(self, base: str, other: str) -> dict[str, Any]:
        return self.registry.diff(base, other).to_dict()
