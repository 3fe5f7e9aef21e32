"""Which request a subscriber came from: an ``Idempotency-Key`` survives a dead request.

``pdf_job_subscribers.request_ref`` holds a digest of the client, its
``Idempotency-Key`` and the item's place in the request (a batch has several). A
request that takes over the key of one that died before answering finds the job
that request made or joined by it, instead of subscribing a second time. Rows
written before have none: nothing takes them over.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("pdf_job_subscribers", sa.Column("request_ref", sa.String(80)))
    op.create_index("idx_subscribers_request_ref", "pdf_job_subscribers", ["request_ref"])


def downgrade() -> None:
    op.drop_index("idx_subscribers_request_ref", table_name="pdf_job_subscribers")
    with op.batch_alter_table("pdf_job_subscribers") as batch:
        batch.drop_column("request_ref")
