"""Trace context, inline PDFs and renderer warnings.

``traceparent`` (W3C trace context) is kept with each job, each subscriber (its
own submit's) and each delivery, which sends it on with a span of its own.
``pdf_job_subscribers.deliver`` says whether the PDF goes inline in the webhook
(``inline``) or only as a link (``link``, what every earlier subscriber had).
``pdf_job_results.render_warnings`` keeps WeasyPrint's warnings as a JSON list. A
webhook body with the PDF inline outgrows MySQL's and MariaDB's TEXT (64 KB), so
the outbox's ``payload`` becomes LONGTEXT there (the other backends' TEXT has no
such limit). Every added column is nullable or has a default: existing rows keep
their meaning.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def _is_mysql() -> bool:
    return op.get_context().dialect.name in ("mysql", "mariadb")  # offline too


def upgrade() -> None:
    op.add_column("pdf_job_results", sa.Column("traceparent", sa.String(55)))
    op.add_column("pdf_job_results", sa.Column("render_warnings", sa.Text()))
    op.add_column(
        "pdf_job_subscribers",
        sa.Column("deliver", sa.String(8), nullable=False, server_default="link"),
    )
    op.add_column("pdf_job_subscribers", sa.Column("traceparent", sa.String(55)))
    op.add_column("pdf_webhook_deliveries", sa.Column("traceparent", sa.String(55)))
    if _is_mysql():
        op.alter_column(
            "pdf_webhook_deliveries",
            "payload",
            type_=mysql.LONGTEXT(),
            existing_type=sa.Text(),
            existing_nullable=False,
        )


def downgrade() -> None:
    if _is_mysql():  # fails, as it should, while a payload longer than TEXT is kept
        op.alter_column(
            "pdf_webhook_deliveries",
            "payload",
            type_=sa.Text(),
            existing_type=mysql.LONGTEXT(),
            existing_nullable=False,
        )
    with op.batch_alter_table("pdf_webhook_deliveries") as batch:
        batch.drop_column("traceparent")
    with op.batch_alter_table("pdf_job_subscribers") as batch:
        batch.drop_column("traceparent")
        batch.drop_column("deliver")
    with op.batch_alter_table("pdf_job_results") as batch:
        batch.drop_column("render_warnings")
        batch.drop_column("traceparent")
