"""Scheduler fakes shared with the jobs tests."""

from tests.jobs.conftest import fake_slurm  # noqa: F401  (a fixture, used by name)
