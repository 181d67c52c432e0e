"""Backends launch jobs; the service picks one by name (like submitit's executors).

Each backend implements :class:`Backend` and is registered under a name. Registration is
by import path, so naming a backend does not import its client library (``kubernetes``
loads only when a Kubernetes job is submitted or looked at).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.jobs.logs import Follower, LogLine
    from workbench.jobs.spec import JobSpec
    from workbench.jobs.store import JobRecord, JobStore


class Backend(Protocol):
    """Process launch for one kind of cluster. Each method stores what it learns."""

    name: str

    def prepare(self, spec: JobSpec) -> JobSpec:
        """Check what only this backend can (files exist, tools installed); fill defaults.

        Raises InvalidInput (bad spec) or ServiceUnavailable (scheduler missing).
        """
        ...

    def submit(self, job: JobRecord) -> JobRecord:
        """Launch a queued job; it leaves ``queued``."""
        ...

    def refresh(self, job: JobRecord) -> JobRecord:
        """Ask the scheduler (or the OS) how an active job is doing and store the answer.

        After a service restart this re-attaches to a live job or marks a dead one (the
        service refreshes every active job when it starts). This is also where a
        ``cancelling`` job is seen to end (``cancelled``, or how it
        ended on its own); it stays ``cancelling`` while the scheduler still runs it.
        """
        ...

    def request_cancel(self, job: JobRecord) -> None:
        """Tell a ``cancelling`` job (``cancel_requested`` is set) to stop everything it
        started, without waiting for it to; its end is recorded by :meth:`refresh` (or, for
        local jobs, by their supervisor). Safe to call again."""
        ...

    def logs(
        self, job: JobRecord, *, rank: int | None, tail: int | None, follow: bool
    ) -> Iterator[LogLine]:
        """The job's output, tagged with rank and stream; ``follow`` waits for more."""
        ...

    def log_follower(self, job: JobRecord, *, rank: int | None, tail: int | None) -> Follower:
        """The job's output a bit at a time, for a caller that polls (the server's stream)."""
        ...


BackendFactory = Callable[["JobStore", "Settings"], Backend]

_REGISTRY: dict[str, str | BackendFactory] = {
    "local": "workbench.jobs.backends.local:LocalBackend",
    "slurm": "workbench.jobs.backends.slurm:SlurmBackend",
    "kubernetes": "workbench.jobs.backends.kubernetes:KubernetesBackend",
}


def register_backend(name: str, factory: str | BackendFactory) -> None:
    """Add (or replace) a backend: a factory, or ``"module:attribute"`` naming one."""
    _REGISTRY[name] = factory


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def _factory(name: str) -> BackendFactory:
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no backend named {name!r}; known: {', '.join(backend_names())}") from None
    if isinstance(target, str):
        module_name, _, attribute = target.partition(":")
        target = getattr(importlib.import_module(module_name), attribute)
        assert callable(target)
    return target


def create_backend(name: str, store: JobStore, settings: Settings) -> Backend:
    return _factory(name)(store, settings)


@dataclass(frozen=True)
class Availability:
    """Whether a backend can launch jobs from here; ``detail`` says what it uses or lacks."""

    name: str
    available: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backend_availability() -> list[Availability]:
    """Each registered backend, asked how it would find its launcher or cluster right now
    (its ``availability()``: cheap, nothing is contacted). A backend without one is
    taken as usable."""
    found = []
    for name in backend_names():
        check = getattr(_factory(name), "availability", None)
        if check is None:
            found.append(Availability(name, True, "registered backend"))
        else:
            available, detail = check()
            found.append(Availability(name, bool(available), str(detail)))
    return found
