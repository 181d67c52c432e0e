"""The commands drive the real services: the jobs tests' fixtures serve them too."""

from tests.jobs.conftest import service, workdir

__all__ = ["service", "workdir"]
