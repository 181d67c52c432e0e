"""REST routes of jobs: submit, list, look, logs (a page, or followed as server-sent events),
cancel, retry, and one-click training (``POST train``). Each calls the one job service of
this server on a worker thread."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import ClassVar, TypeVar

from tornado import web
from tornado.iostream import StreamClosedError

from workbench.errors import InvalidInput
from workbench.jobs.logs import Follower, LogLine
from workbench.jobs.service import JobService
from workbench.jobs.store import JobRecord
from workbench.server.base import WorkbenchHandler
from workbench.server.jobs_runtime import ServerJobs

JOB = r"jobs/([0-9a-zA-Z_-]+)"
T = TypeVar("T")


class JobsServiceMixin(WorkbenchHandler):
    """The one job service of this server (each route below defines only its own verbs)."""

    async def jobs(self, call: Callable[[JobService], T]) -> T:
        """Run ``call(service)`` on a worker thread (the first call also builds the service)."""
        runtime: ServerJobs = self.settings["workbench_jobs"]
        return await self.blocking(lambda: call(runtime.service()))


def _line(line: LogLine) -> dict[str, object]:
    return {"rank": line.rank, "stream": line.stream, "text": line.text}


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
        self.write_json({"lines": [_line(ln) for ln in lines]})


class JobLogStreamHandler(JobsServiceMixin):
    """``GET jobs/<id>/logs/stream?rank=R&tail=N``: the job's logs as server-sent events.

    First the last ``tail`` lines (200) of each file, then new lines as they are written,
    one ``data: {"rank", "stream", "text"}`` event per line, polled every ``poll_s`` on a
    worker thread; when the job has ended (and its last lines are sent), ``event: end``
    with the job. Stops when the client goes away; a comment every ``keepalive_s`` keeps
    quiet streams open through proxies.
    """

    poll_s: ClassVar[float] = 0.5
    keepalive_s: ClassVar[float] = 15.0
    _gone = False

    def on_connection_close(self) -> None:
        self._gone = True
        super().on_connection_close()

    @web.authenticated
    async def get(self, job_id: str) -> None:
        rank = self.int_argument("rank", None)
        tail = self.int_argument("tail", 200)
        follower = await self.jobs(lambda s: s.log_follower(job_id, rank=rank, tail=tail))
        try:
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")  # nginx: pass events on at once
            if await self._stream(job_id, follower):
                self.finish(set_content_type="text/event-stream")
        finally:
            follower.close()

    async def _stream(self, job_id: str, follower: Follower) -> bool:
        """Send events until the job ends (True) or the client leaves (False)."""
        quiet_since = time.monotonic()
        while not self._gone:
            record = await self.jobs(lambda s: s.get(job_id))
            done = record.state.terminal  # read first: lines written before the end follow
            lines = await self.blocking(follower.read, final=done)
            for line in lines:
                self.write(f"data: {json.dumps(_line(line))}\n\n")
            if done:
                self.write(f"event: end\ndata: {json.dumps(record.to_dict())}\n\n")
            elif lines:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > self.keepalive_s:
                self.write(": keep-alive\n\n")
                quiet_since = time.monotonic()
            try:
                await self.flush()
            except StreamClosedError:
                return False
            if done:
                return True
            await asyncio.sleep(self.poll_s)
        return False


class JobActionHandler(JobsServiceMixin):
    @web.authenticated
    async def post(self, job_id: str, action: str) -> None:
        if action == "cancel":  # 202: it is cancelling; polling shows it become cancelled
            record = await self.jobs(lambda s: s.cancel(job_id))
            self.write_json(record.to_dict(), status=202)
            return
        record = await self.jobs(lambda s: s.retry(job_id))
        self.write_json(record.to_dict(), status=201)


class TrainHandler(JobsServiceMixin):
    """``{"spec": <training spec>, "ranks": N, "backend"?, "working_dir"?}`` -> the job (201).

    The server builds the job (:func:`training_job`); ``working_dir`` (default: the server's
    root) and the spec's ``data.path`` may not leave the root. The body's schema is
    :class:`~workbench.server.schemas.TrainRequest` (``GET schemas``).
    """

    @web.authenticated
    async def post(self) -> None:
        from workbench.jobs.training_job import training_job
        from workbench.server.schemas import TrainRequest

        body = self.json_body()
        if not isinstance(body, dict) or "spec" not in body:
            raise InvalidInput('request body: a JSON object {"spec": {...}, "ranks": N} is needed')
        if unknown := sorted(set(body) - set(TrainRequest.model_fields)):
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
    ("jobs", JobsHandler),
    (JOB, JobHandler),
    (rf"{JOB}/logs", JobLogsHandler),
    (rf"{JOB}/logs/stream", JobLogStreamHandler),
    (rf"{JOB}/(cancel|retry)", JobActionHandler),
    ("train", TrainHandler),
]
