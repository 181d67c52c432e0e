"""Exceptions every layer raises and the server maps to HTTP status codes."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: a failure with a message a user can act on."""

    status_code = 500


class InvalidInput(WorkbenchError):
    """The request or spec is malformed; the message names the field and the rule."""

    status_code = 400


class NotFound(WorkbenchError):
    """The named thing (job, run, project, dataset) does not exist."""

    status_code = 404


class Conflict(WorkbenchError):
    """The request clashes with the current state (e.g. cancelling a finished job)."""

    status_code = 409


class ServiceUnavailable(WorkbenchError):
    """A backing service (Label Studio, MLflow, the scheduler) is down or unreachable."""

    status_code = 503
