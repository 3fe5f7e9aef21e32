"""Alert events go through the webhook outbox, beside the jobs' events.

An alert belongs to no job and no subscriber: ``pdf_webhook_deliveries.job_id`` and
``subscriber_id`` may be NULL for them (event ``alert``). Every row written before
has both, and keeps them. SQLite changes a column by copying its table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from flask_pdfqueue.records.sql.columns import LongText, Timestamp

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = ("job_id", sa.String(255)), ("subscriber_id", sa.Integer())
TABLE = "pdf_webhook_deliveries"
COPY = "_pdf_webhook_deliveries_new"


def _deliveries(name: str, *, owned: bool) -> list[Any]:
    """The columns and constraints of ``pdf_webhook_deliveries`` as revisions 0002 and
    0005 made it, but for whether an event must belong to a job (``owned``)."""
    return [
        sa.Column("webhook_id", sa.String(255), primary_key=True),
        sa.Column("job_id", sa.String(255), nullable=not owned),
        sa.Column("subscriber_id", sa.Integer(), nullable=not owned),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", LongText, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("round_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", Timestamp()),
        sa.Column("claimed_at", Timestamp()),
        sa.Column("claim_token", sa.String(64)),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.Text()),
        sa.Column("delivered_at", Timestamp()),
        sa.Column("created_at", Timestamp(), nullable=False),
        sa.Column("updated_at", Timestamp(), nullable=False),
        sa.Column("traceparent", sa.String(55)),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'delivered', 'failed')",
            name=op.f(f"ck_{name}_state"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["pdf_job_results.job_id"], name=op.f(f"fk_{name}_job_id_pdf_job_results")
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["pdf_job_subscribers.id"],
            name=op.f(f"fk_{name}_subscriber_id_pdf_job_subscribers"),
        ),
    ]


def _set_owned(owned: bool) -> None:
    if op.get_context().dialect.name != "sqlite":
        for name, type_ in COLUMNS:
            op.alter_column(TABLE, name, existing_type=type_, nullable=not owned)
        return
    # SQLite alters no column: the table is copied (by hand, as Alembic's batch mode
    # would, so the offline DDL comes out the same every time). The constraints keep
    # their names, which the copy's name must not change.
    items = _deliveries(TABLE, owned=owned)
    op.create_table(COPY, *items)
    names = ", ".join(item.name for item in items if isinstance(item, sa.Column))
    op.execute(f"INSERT INTO {COPY} ({names}) SELECT {names} FROM {TABLE}")  # noqa: S608
    op.drop_table(TABLE)
    op.rename_table(COPY, TABLE)
    op.create_index("idx_deliveries_job", TABLE, ["job_id"])
    op.create_index("idx_deliveries_subscriber", TABLE, ["subscriber_id"], unique=True)
    op.create_index("idx_deliveries_due", TABLE, ["state", "next_attempt_at"])


def upgrade() -> None:
    _set_owned(False)


def downgrade() -> None:
    # fails, as it should, while an alert event is kept: delete those first
    _set_owned(True)
