"""``JobRefresher``: a thread that keeps active jobs' states in the store current.

    refresher = JobRefresher(service, interval=2.0).start()
    ...
    refresher.stop()

Each cycle is :meth:`JobService.refresh_active`: remote jobs ask their scheduler (a slow
``squeue`` delays only this thread), local jobs notice a dead supervisor, ``cancelling``
jobs are seen ending. Readers (``list``/``get``) then never wait for a scheduler. The loop
never raises: a failed cycle is logged and the next one runs ``interval`` seconds later.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.jobs.service import JobService

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 2.0


class JobRefresher:
    def __init__(self, service: JobService, *, interval: float = DEFAULT_INTERVAL_S) -> None:
        if interval <= 0:
            raise ValueError(f"interval: must be > 0 seconds (got {interval})")
        self.service = service
        self.interval = interval
        self.cycles = 0  # completed cycles, failed ones included
        self._stop = threading.Event()
        self._cycled = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> JobRefresher:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="workbench-jobs-refresher")
        self._thread.daemon = True  # a scheduler call stuck past stop() must not hang exit
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait up to ``timeout`` s for the current cycle."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("job refresher still in a scheduler call after %.0f s", timeout)
            self._thread = None

    def wait_cycles(self, count: int, timeout: float) -> bool:
        """Block until ``count`` cycles have completed since start; False on timeout."""
        with self._cycled:
            return self._cycled.wait_for(lambda: self.cycles >= count, timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)

    def run_once(self) -> None:
        try:
            self.service.refresh_active()
        except Exception:  # the loop must outlive anything one cycle hits
            log.exception("job refresher: a refresh cycle failed")
        with self._cycled:
            self.cycles += 1
            self._cycled.notify_all()
