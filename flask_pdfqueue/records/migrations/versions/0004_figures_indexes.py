"""Indexes for stats, alerts and ``/metrics``: their aggregates read an index, never the rows.

``idx_status_priority_started`` answers "jobs by status and priority, and how many
of each ever started"; ``idx_status_completed_started`` answers "jobs that
finished since …, and how long they took" (and the duration histogram, and the
clean-up's "finished before …"). See :mod:`flask_pdfqueue.records.sql.figures`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "idx_status_priority_started", "pdf_job_results", ["status", "priority", "started_at"]
    )
    op.create_index(
        "idx_status_completed_started", "pdf_job_results", ["status", "completed_at", "started_at"]
    )


def downgrade() -> None:
    op.drop_index("idx_status_completed_started", table_name="pdf_job_results")
    op.drop_index("idx_status_priority_started", table_name="pdf_job_results")
