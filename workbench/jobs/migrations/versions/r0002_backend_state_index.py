"""Index ``(backend, state)``: the refresher asks for each backend's active jobs every cycle.

The ``cancelling`` state needs no column change (``state`` is a 16-character string).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_backend_state", "jobs", ["backend", "state"])


def downgrade() -> None:
    op.drop_index("ix_jobs_backend_state", table_name="jobs")
