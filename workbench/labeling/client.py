"""The one place that talks to Label Studio (label-studio-sdk v2).

Every call retries on connection failures (tenacity, a few seconds in all) and maps
errors: Label Studio down -> :class:`ServiceUnavailable` (503), its 404 ->
:class:`NotFound`, its 400 -> :class:`InvalidInput` with Label Studio's own words.
Results come back as plain dicts and lists, so nothing above depends on SDK types.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from workbench.errors import InvalidInput, NotFound, ServiceUnavailable, WorkbenchError

T = TypeVar("T")
EXPORT_TIMEOUT_S = 600.0
PAGE_SIZE = 1000
SESSION_COOKIE = "sessionid"  # Django's session cookie (signed cookies in Label Studio)


def plain(obj: Any) -> dict[str, Any]:
    """An SDK object (pydantic) as a JSON-like dict."""
    dumped: dict[str, Any] = obj.model_dump(mode="json")
    return dumped


def _api_message(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("validation_errors") or body.get("detail") or body
        return json.dumps(errors) if not isinstance(errors, str) else errors
    return str(body)


def sign_in(url: str, email: str, password: str, timeout: float = 30.0) -> str:
    """Sign in through Label Studio's own login form, as a browser would (the open edition
    has no other way to make a UI session); returns the session cookie's value, a secret."""
    login = f"{url}/user/login/"
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            http.get(login)  # sets the csrftoken cookie the form post must echo
            form = {"email": email, "password": password, "persist_session": "on",
                    "csrfmiddlewaretoken": http.cookies.get("csrftoken") or ""}  # fmt: skip
            answer = http.post(login, data=form, headers={"Referer": login})
    except httpx.TransportError as exc:
        raise ServiceUnavailable(
            f"Label Studio at {url} is not reachable (sign-in): {type(exc).__name__}; "
            "start it with `workbench label start` or the Labeling panel's Start button"
        ) from exc
    session = answer.cookies.get(SESSION_COOKIE)
    if answer.status_code != 302 or not session:
        raise ServiceUnavailable(
            f"Label Studio refused the workbench's sign-in as {email} (HTTP "
            f"{answer.status_code}): its admin password no longer matches the workbench's "
            "admin-password file"
        )
    return session


class LabelStudioClient:
    """Typed calls the workbench needs, over one ``LabelStudio`` SDK client."""

    def __init__(self, url: str, token: str, timeout: float = 120.0) -> None:
        from label_studio_sdk import LabelStudio

        self.url = url
        self.sdk = LabelStudio(base_url=url, api_key=token, timeout=timeout)  # type: ignore[no-untyped-call]

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call with retries on connection errors and the workbench's errors."""
        from label_studio_sdk.core.api_error import ApiError

        @retry(
            retry=retry_if_exception_type(httpx.TransportError),
            stop=stop_after_delay(6),
            wait=wait_exponential(multiplier=0.2, max=2),
            reraise=True,
        )
        def attempt() -> T:
            return fn(*args, **kwargs)

        try:
            return attempt()
        except httpx.TransportError as exc:
            raise ServiceUnavailable(
                f"Label Studio at {self.url} is not reachable ({what}): {exc}; "
                "start it with `workbench label start`"
            ) from exc
        except ApiError as exc:
            status, message = exc.status_code or 500, _api_message(exc.body)
            if status == 404:
                raise NotFound(f"Label Studio: {what}: not found") from exc
            if status in (400, 422):
                raise InvalidInput(f"Label Studio refused {what}: {message}") from exc
            if status in (401, 403):
                raise ServiceUnavailable(
                    f"Label Studio refused the workbench's token ({what}): check the token file"
                ) from exc
            raise WorkbenchError(f"Label Studio failed {what} ({status}): {message}") from exc

    # projects
    def projects(self) -> list[dict[str, Any]]:
        pager: Any = self.call("list projects", self.sdk.projects.list, page_size=PAGE_SIZE)
        return [plain(p) for p in pager]

    def project(self, project_id: int) -> dict[str, Any]:
        return plain(self.call(f"project {project_id}", self.sdk.projects.get, id=project_id))

    def create_project(self, **fields: Any) -> dict[str, Any]:
        return plain(self.call("create project", self.sdk.projects.create, **fields))

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        return plain(
            self.call(f"update project {project_id}", self.sdk.projects.update, id=project_id,
                      **fields)
        )  # fmt: skip

    def delete_project(self, project_id: int) -> None:
        self.call(f"delete project {project_id}", self.sdk.projects.delete, id=project_id)

    def add_local_storage(self, project_id: int, path: str, title: str) -> dict[str, Any]:
        storage = self.call(
            f"local-files storage {path}", self.sdk.import_storage.local.create,
            project=project_id, path=path, title=title, use_blob_urls=True,
        )  # fmt: skip
        return plain(storage)

    def local_storages(self, project_id: int) -> list[dict[str, Any]]:
        found = self.call("list storages", self.sdk.import_storage.local.list, project=project_id)
        return [plain(s) for s in found]

    # tasks, annotations, predictions
    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> list[int]:
        result = self.call(
            f"import {len(tasks)} tasks", self.sdk.projects.import_tasks,
            id=project_id, request=tasks, return_task_ids=True,
        )  # fmt: skip
        return list(getattr(result, "task_ids", None) or [])

    def iter_tasks(self, project_id: int, fields: str = "all") -> Iterator[dict[str, Any]]:
        pager: Any = self.call(
            f"tasks of project {project_id}", self.sdk.tasks.list,
            project=project_id, fields=fields, page_size=PAGE_SIZE,
        )  # fmt: skip
        for task in pager:
            yield plain(task)

    def annotated_tasks(self, project_id: int) -> list[dict[str, Any]]:
        """Tasks that have annotations, with them (Label Studio's quick export: fast when
        few of many tasks are labeled, where listing every task is not)."""
        exports = self.sdk.projects.exports
        raw = self.call(
            f"annotations of project {project_id}",
            lambda: b"".join(exports.download_sync(id=project_id, export_type="JSON")),
        )
        rows = json.loads(raw)
        if not isinstance(rows, list):
            raise WorkbenchError("Label Studio's export is not a list of tasks")
        return rows

    def create_annotation(
        self, task_id: int, result: list[dict[str, Any]], parent_prediction: int | None = None
    ) -> dict[str, Any]:
        extra = {} if parent_prediction is None else {"parent_prediction": parent_prediction}
        made = self.call(
            f"annotate task {task_id}", self.sdk.annotations.create, id=task_id, result=result,
            **extra,
        )  # fmt: skip
        return plain(made)

    def import_predictions(self, project_id: int, predictions: list[dict[str, Any]]) -> int:
        result = self.call(
            f"import {len(predictions)} predictions", self.sdk.projects.import_predictions,
            id=project_id, request=predictions,
        )  # fmt: skip
        return int(getattr(result, "created", 0) or 0)

    def users(self) -> dict[int, str]:
        return {u.id: u.email or u.username for u in self.call("list users", self.sdk.users.list)}

    def create_view(self, project_id: int, title: str, task_ids: list[int]) -> dict[str, Any]:
        """A Data Manager tab showing just ``task_ids`` (e.g. label-error suspects)."""
        filters = {
            "conjunction": "or",
            "items": [
                {"filter": "filter:tasks:id", "operator": "equal", "type": "Number", "value": t}
                for t in task_ids
            ],
        }
        data = {"title": title, "filters": filters, "ordering": []}
        view = self.call("create view", self.sdk.views.create, project=project_id, data=data)
        return plain(view)

    # export
    def export_snapshot(self, project_id: int, timeout: float = EXPORT_TIMEOUT_S) -> list[Any]:
        """All tasks with annotations, through a snapshot: create -> poll -> download."""
        exports = self.sdk.projects.exports
        made = self.call("create export", exports.create, id=project_id, title="workbench")
        if made.id is None:
            raise WorkbenchError("Label Studio's export has no id")
        export_id = made.id
        deadline = time.monotonic() + timeout
        while True:
            snap = self.call("export status", exports.get, id=project_id, export_pk=export_id)
            if snap.status == "completed":
                break
            if snap.status == "failed":
                raise WorkbenchError(f"Label Studio's export of project {project_id} failed")
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"Label Studio's export did not finish in {timeout:.0f}s")
            time.sleep(0.2)
        chunks = self.call(
            "download export", lambda: b"".join(
                exports.download(id=project_id, export_pk=export_id, export_type="JSON")
            ),
        )  # fmt: skip
        self.call("delete export", exports.delete, id=project_id, export_pk=export_id)
        rows = json.loads(chunks)
        if not isinstance(rows, list):
            raise WorkbenchError("Label Studio's export is not a list of tasks")
        return rows
