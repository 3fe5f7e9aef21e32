"""Baseline: ``pdf_job_results`` as released before migrations.

Databases made by that release hold exactly this; ``flask pdfqueue db upgrade``
stamps them at this revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from flask_pdfqueue.records.migrations._schema_v0 import INDEXES, jobs_v0
from flask_pdfqueue.records.sql.columns import MYSQL_OPTIONS

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table("pdf_job_results", *jobs_v0(), **MYSQL_OPTIONS)
    for name, columns in INDEXES:
        op.create_index(name, "pdf_job_results", columns)


def downgrade() -> None:
    op.drop_table("pdf_job_results")
