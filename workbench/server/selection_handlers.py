"""REST routes of model selection: start a study, list studies, one study's trials, and
register the best trial's model. A study runs as a background operation of this server
(as ``workbench select`` runs it in the terminal): each trial is a job, the UI polls the
operation for finished trials and reads the study for its history."""

from __future__ import annotations

from tornado import web

from workbench.errors import InvalidInput
from workbench.server.base import WorkbenchHandler

STUDY = r"studies/([A-Za-z0-9][A-Za-z0-9._-]*)"


class SelectHandler(WorkbenchHandler):
    """``{"spec": <selection spec>, "working_dir"?}`` -> 202 with the study's operation.

    The spec is checked (and its paths kept under the Jupyter root) before it starts; a
    study of the same name already running here is a 409; re-running a finished one
    resumes it up to ``trials``. The body's schema is ``select_request`` (``GET schemas``).
    """

    @web.authenticated
    async def post(self) -> None:
        from workbench.selection.jobs import prepare_selection, run_study
        from workbench.server.schemas import SelectRequest

        body = self.json_body()
        if not isinstance(body, dict) or "spec" not in body:
            raise InvalidInput('request body: a JSON object {"spec": {...}} is needed')
        if unknown := sorted(set(body) - set(SelectRequest.model_fields)):
            raise InvalidInput(f"{unknown[0]}: not a field of a selection request")
        working_dir, root = (
            self.user_path(body.get("working_dir", "."), "working_dir"),
            self.root_dir,
        )
        spec = await self.blocking(prepare_selection, body["spec"], working_dir, root)
        self.start_operation(
            "selection.study", lambda: run_study(spec, working_dir, root),
            key=spec.name, long=True, study=spec.name,
        )  # fmt: skip


class StudiesHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self) -> None:
        from workbench.selection.studies import list_studies

        self.write_json({"studies": await self.blocking(list_studies)})


class StudyHandler(WorkbenchHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        from workbench.selection.studies import study_detail

        self.write_json(await self.blocking(study_detail, name))


class RegisterBestHandler(WorkbenchHandler):
    """``{"name"?: registered model}`` (default: the study's ``register_model``) -> 201."""

    @web.authenticated
    async def post(self, study: str) -> None:
        from workbench.selection.studies import register_best

        body = self.json_body()
        if not isinstance(body, dict):
            raise InvalidInput("request body must be a JSON object")
        if unknown := sorted(set(body) - {"name"}):
            raise InvalidInput(f"{unknown[0]}: not a field of register-best (only name)")
        name = body.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise InvalidInput(f"name: a registered model name, not {name!r}")
        self.write_json(await self.blocking(register_best, study, name), status=201)


ROUTES: list[tuple[str, type[WorkbenchHandler]]] = [
    ("select", SelectHandler),
    ("studies", StudiesHandler),
    (STUDY, StudyHandler),
    (rf"{STUDY}/register-best", RegisterBestHandler),
]
