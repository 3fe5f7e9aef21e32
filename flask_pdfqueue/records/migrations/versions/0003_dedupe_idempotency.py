"""Dedupe and idempotency: a key that makes an active report unique, and stored answers.

``pdf_job_results.dedupe_key`` identifies the report (code and product id) while
its job is queued or running, under a unique index: a second submit for the same
report cannot create a second job, it joins the first. Finished jobs clear it
(NULLs never collide). ``pdf_idempotency_keys`` keeps the answer given to an
``Idempotency-Key`` for 24 hours. Jobs from before this revision have no key and
are never joined.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_pdfqueue.records.sql.columns import MYSQL_OPTIONS, Timestamp

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("pdf_job_results", sa.Column("dedupe_key", sa.String(64)))
    op.create_index("uq_pdf_job_results_dedupe_key", "pdf_job_results", ["dedupe_key"], unique=True)
    op.create_table(
        "pdf_idempotency_keys",
        sa.Column("client", sa.String(64), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer()),
        sa.Column("response", sa.Text()),
        sa.Column("created_at", Timestamp(), nullable=False),
        **MYSQL_OPTIONS,
    )
    op.create_index("idx_idempotency_created_at", "pdf_idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("pdf_idempotency_keys")
    op.drop_index("uq_pdf_job_results_dedupe_key", table_name="pdf_job_results")
    with op.batch_alter_table("pdf_job_results") as batch:
        batch.drop_column("dedupe_key")
