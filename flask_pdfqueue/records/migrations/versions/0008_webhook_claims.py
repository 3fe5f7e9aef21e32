"""Receivers' claims of ``webhook-id``s are kept in SQL.

``pdf_webhook_claims`` holds one row per claimed (consumer, ``webhook-id``), keyed by
their digest. The claims were kept in Redis before, where a flush forgot them; there is
nothing to copy, as no release kept them there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flask_pdfqueue.records.sql.columns import MYSQL_OPTIONS, Timestamp

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "pdf_webhook_claims",
        sa.Column("claim_digest", sa.String(64), primary_key=True),
        sa.Column("claimed_at", Timestamp(), nullable=False),
        **MYSQL_OPTIONS,
    )
    op.create_index("idx_webhook_claims_claimed_at", "pdf_webhook_claims", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("idx_webhook_claims_claimed_at", table_name="pdf_webhook_claims")
    op.drop_table("pdf_webhook_claims")
