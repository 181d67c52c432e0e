"""Job states and the transitions the store allows between them.

```
queued -> starting -> running -> succeeded | failed | cancelled | lost
any of those three -> cancelling -> cancelled | succeeded | failed | lost
```
plus the early exits (a queued or starting job can fail or be cancelled) and one way back:
``running -> starting`` when a failed attempt is retried. ``cancelling`` is active: a cancel
was asked for and the backend told to stop, but the job has not been seen ending yet; it
ends ``cancelled``, or how it ended on its own if it finished meanwhile. A job cancelled
outside workbench (``scancel``) goes straight to ``cancelled``. Terminal states never change.
"""

from __future__ import annotations

from enum import StrEnum

from workbench.errors import Conflict


class JobState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST}
)
ACTIVE_STATES = frozenset(set(JobState) - TERMINAL_STATES)

TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.QUEUED: frozenset(
        {JobState.STARTING, JobState.CANCELLING, JobState.FAILED, JobState.CANCELLED}
    ),
    JobState.STARTING: frozenset(
        {JobState.RUNNING, JobState.CANCELLING, JobState.FAILED, JobState.CANCELLED, JobState.LOST}
    ),
    JobState.RUNNING: frozenset(
        {JobState.STARTING, JobState.CANCELLING, *TERMINAL_STATES}  # starting: a retry
    ),
    JobState.CANCELLING: TERMINAL_STATES,
    **{state: frozenset() for state in TERMINAL_STATES},
}


class IllegalTransition(Conflict):
    """A state change the state machine forbids (e.g. a finished job becoming running)."""

    def __init__(self, job_id: str, current: JobState, target: JobState) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none: it is final"
        super().__init__(
            f"job {job_id} is {current}; it cannot become {target} (allowed next: {allowed})"
        )
        self.job_id = job_id
        self.current = current
        self.target = target


def check_transition(job_id: str, current: JobState, target: JobState) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is allowed."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(job_id, current, target)
