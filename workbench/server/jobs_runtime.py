"""This server's job service and the refresher that keeps its store current.

Built on first use, from a worker thread (opening the store may migrate it), and stopped
when the server shuts down. The refresher's first cycle does what a service start does
elsewhere: re-attach to live jobs and mark the ones that died while no one watched.
"""

from __future__ import annotations

import threading

from workbench.jobs.refresher import DEFAULT_INTERVAL_S, JobRefresher
from workbench.jobs.service import JobService


class ServerJobs:
    def __init__(self, interval: float = DEFAULT_INTERVAL_S) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._service: JobService | None = None
        self.refresher: JobRefresher | None = None

    def service(self) -> JobService:
        """The one service (blocking the first time: call it off the event loop)."""
        with self._lock:
            if self._service is None:
                service = JobService(recover=False)  # the refresher's first cycle recovers
                self.refresher = JobRefresher(service, interval=self.interval).start()
                self._service = service
            return self._service

    def stop(self) -> None:
        with self._lock:
            if self.refresher is not None:
                self.refresher.stop()
                self.refresher = None
            if self._service is not None:
                self._service.store.close()
                self._service = None
