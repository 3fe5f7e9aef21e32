"""Webhook outbox: who waits for a job and what it is owed get tables of their own.

A job's callbacks move from ``pdf_job_results`` into one ``pdf_job_subscribers``
row, its webhook state into one ``pdf_webhook_deliveries`` row that carries the
body the old release would have sent and its ``webhook-id`` (``<job_id>.<status>``),
so an event still owed goes out as before and a replay keeps the id. Jobs gain
``rq_job_id`` (their current run: the old release queued a job under its own id),
``enqueued_at`` and ``mirror_pending``.

Rows move only online: offline SQL (``sql/*.sql``) is for empty databases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from alembic.operations import BatchOperations

from flask_pdfqueue.records.migrations._schema_v0 import INDEXES, jobs_v0
from flask_pdfqueue.records.sql.columns import MYSQL_OPTIONS, Timestamp

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

#: The columns of ``pdf_job_results`` whose data moves to the new tables.
MOVED = (
    "callback_url",
    "failure_callback_url",
    "metadata_json",
    "webhook_state",
    "webhook_attempts",
    "webhook_last_status",
)
#: Error codes the old release announced as ``"retryable": false``.
FAIL_FAST = frozenset({"report_not_found", "template_error"})
_BATCH = 500


def upgrade() -> None:
    offline = context.is_offline_mode()
    if offline and context.get_starting_revision_argument() is not None:
        raise RuntimeError(
            "0002 moves rows, which SQL scripts cannot: run `flask pdfqueue db upgrade`"
        )
    subscribers = op.create_table(
        "pdf_job_subscribers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("callback_url", sa.Text()),
        sa.Column("failure_callback_url", sa.Text()),
        sa.Column("metadata_json", sa.Text()),
        sa.Column("created_at", Timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["pdf_job_results.job_id"],
            name=op.f("fk_pdf_job_subscribers_job_id_pdf_job_results"),
        ),
        **MYSQL_OPTIONS,
    )
    op.create_index("idx_subscribers_job", "pdf_job_subscribers", ["job_id"])
    deliveries = op.create_table(
        "pdf_webhook_deliveries",
        sa.Column("webhook_id", sa.String(255), primary_key=True),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
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
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'delivered', 'failed')",
            name=op.f("ck_pdf_webhook_deliveries_state"),
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["pdf_job_results.job_id"],
            name=op.f("fk_pdf_webhook_deliveries_job_id_pdf_job_results"),
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["pdf_job_subscribers.id"],
            name=op.f("fk_pdf_webhook_deliveries_subscriber_id_pdf_job_subscribers"),
        ),
        **MYSQL_OPTIONS,
    )
    op.create_index("idx_deliveries_job", "pdf_webhook_deliveries", ["job_id"])
    op.create_index(
        "idx_deliveries_subscriber", "pdf_webhook_deliveries", ["subscriber_id"], unique=True
    )
    op.create_index("idx_deliveries_due", "pdf_webhook_deliveries", ["state", "next_attempt_at"])
    op.create_table(
        "pdf_webhook_attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("webhook_id", sa.String(255), nullable=False),
        sa.Column("attempted_at", Timestamp(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["pdf_webhook_deliveries.webhook_id"],
            name=op.f("fk_pdf_webhook_attempts_webhook_id_pdf_webhook_deliveries"),
        ),
        **MYSQL_OPTIONS,
    )
    op.create_index("idx_attempts_webhook", "pdf_webhook_attempts", ["webhook_id"])
    jobs = sa.Table("pdf_job_results", sa.MetaData(), *jobs_v0(), **MYSQL_OPTIONS)
    if not offline:
        _move_callbacks(jobs, subscribers, deliveries)
    with _alter_jobs(jobs) as batch:
        for name in MOVED:  # first, so that SQLite's copy adds the new columns at the end
            batch.drop_column(name)
        batch.add_column(sa.Column("rq_job_id", sa.String(255)))
        batch.add_column(sa.Column("enqueued_at", Timestamp()))
        batch.add_column(
            sa.Column("mirror_pending", sa.Boolean(), nullable=False, server_default="0")
        )
    if not offline:
        jobs_now = sa.table(
            "pdf_job_results",
            *map(sa.column, ("job_id", "status", "created_at", "rq_job_id", "enqueued_at")),
        )
        op.execute(jobs_now.update().values(rq_job_id=jobs_now.c.job_id))
        op.execute(
            jobs_now.update()
            .where(jobs_now.c.status.in_(("queued", "processing")))
            .values(enqueued_at=jobs_now.c.created_at)
        )


@contextmanager
def _alter_jobs(jobs: sa.Table) -> Iterator[BatchOperations]:
    """Alter ``pdf_job_results``: in place, or on SQLite by rebuilding it from ``jobs``
    (its shape before the changes). ``jobs`` lists no indexes, since a table keeps
    them in a set and the generated SQL must not vary; the rebuilt table gets the
    old ones back here, in order."""
    with op.batch_alter_table("pdf_job_results", copy_from=jobs) as batch:
        yield batch
        if op.get_context().dialect.name == "sqlite":
            for name, columns in INDEXES:
                batch.create_index(name, columns)


def _move_callbacks(jobs: sa.Table, subscribers: sa.Table, deliveries: sa.Table) -> None:
    """One subscriber per job with a callback; one delivery per job whose webhook was owed."""
    bind = op.get_bind()
    job = jobs.c
    bind.execute(
        subscribers.insert().from_select(
            ["job_id", "callback_url", "failure_callback_url", "metadata_json", "created_at"],
            sa.select(
                job.job_id,
                job.callback_url,
                job.failure_callback_url,
                job.metadata_json,
                job.created_at,
            )
            .where(sa.or_(job.callback_url.is_not(None), job.failure_callback_url.is_not(None)))
            .order_by(job.created_at, job.job_id),
        )
    )
    now = datetime.now(UTC)
    query = (
        sa.select(jobs, subscribers.c.id.label("subscriber_id"))
        .join_from(jobs, subscribers, subscribers.c.job_id == job.job_id)
        .where(job.webhook_state.is_not(None))
        .order_by(job.job_id)
        .limit(_BATCH)
    )
    after: str | None = None
    while rows := bind.execute(query if after is None else query.where(job.job_id > after)).all():
        owed = [delivery for row in rows if (delivery := _delivery(row, now))]
        if owed:
            bind.execute(deliveries.insert(), owed)
        after = rows[-1].job_id


def _delivery(job: sa.Row[Any], now: datetime) -> dict[str, Any] | None:
    """The delivery row for a job's owed (or settled) event; None without a URL for it,
    which the old release never owed."""
    url = job.callback_url if job.status == "completed" else job.failure_callback_url
    if url is None:
        return None
    state = "pending" if job.webhook_state == "sending" else job.webhook_state  # claimer is gone
    at = job.completed_at or job.updated_at or job.created_at
    return {
        "webhook_id": f"{job.job_id}.{job.status}",
        "job_id": job.job_id,
        "subscriber_id": job.subscriber_id,
        "event": job.status,
        "url": url,
        "payload": _payload(job),
        "state": state,
        "attempts": job.webhook_attempts,
        "round_attempts": job.webhook_attempts,
        "last_status": job.webhook_last_status,
        "next_attempt_at": now if state == "pending" else None,
        # The old release's last write to a delivered job was recording the delivery.
        "delivered_at": (job.updated_at or at) if state == "delivered" else None,
        "created_at": at,
        "updated_at": at,
    }


def _payload(job: sa.Row[Any]) -> str:
    """The JSON body the old release sent for this outcome, byte for byte."""
    body: dict[str, Any]
    if job.status == "completed":
        body = {
            "job_id": job.job_id,
            "status": "completed",
            "google_drive_link": job.google_drive_link,
            "pdf_url": job.pdf_url,
            "completed_at": _iso_utc(job.completed_at),
            "code": job.code,
            "productId": job.product_id,
        }
    else:
        body = {
            "job_id": job.job_id,
            "status": job.status,
            "error": job.error_message,
            "error_code": job.error_code,
            "retryable": job.error_code not in FAIL_FAST,
            "failed_at": _iso_utc(job.completed_at),
            "retry_count": job.retry_count,
            "code": job.code,
            "productId": job.product_id,
        }
    metadata = json.loads(job.metadata_json) if job.metadata_json else None
    if metadata is not None:
        body["metadata"] = metadata
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _iso_utc(value: datetime | None) -> str | None:
    """``2026-11-25T10:06:37.366Z``, as the old release wrote timestamps in webhooks."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def downgrade() -> None:
    """Back to 0001: each job takes its first subscriber's callbacks and that subscriber's
    delivery state (an event in flight becomes owed again); later subscribers, attempt
    logs and stored bodies are dropped, as the old release has no place for them."""
    op.add_column("pdf_job_results", sa.Column("callback_url", sa.Text()))
    op.add_column("pdf_job_results", sa.Column("failure_callback_url", sa.Text()))
    op.add_column("pdf_job_results", sa.Column("metadata_json", sa.Text()))
    op.add_column("pdf_job_results", sa.Column("webhook_state", sa.String(16)))
    op.add_column(
        "pdf_job_results",
        sa.Column("webhook_attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.add_column("pdf_job_results", sa.Column("webhook_last_status", sa.Integer()))
    _restore_callbacks()
    op.drop_table("pdf_webhook_attempts")
    op.drop_table("pdf_webhook_deliveries")
    op.drop_table("pdf_job_subscribers")
    jobs = sa.Table(
        "pdf_job_results",
        sa.MetaData(),
        *jobs_v0(),
        sa.Column("rq_job_id", sa.String(255)),
        sa.Column("enqueued_at", Timestamp()),
        sa.Column("mirror_pending", sa.Boolean(), nullable=False, server_default="0"),
        **MYSQL_OPTIONS,
    )
    with _alter_jobs(jobs) as batch:
        batch.drop_column("mirror_pending")
        batch.drop_column("enqueued_at")
        batch.drop_column("rq_job_id")


def _restore_callbacks() -> None:
    jobs = sa.table("pdf_job_results", *map(sa.column, ("job_id", *MOVED)))
    subscriber = sa.table(
        "pdf_job_subscribers",
        *map(sa.column, ("id", "job_id", "callback_url", "failure_callback_url", "metadata_json")),
    )
    delivery = sa.table(
        "pdf_webhook_deliveries",
        *map(sa.column, ("subscriber_id", "state", "attempts", "last_status")),
    )

    def first(value: Any) -> Any:
        """``value`` for the job's first subscriber (and its delivery, if any)."""
        return (
            sa.select(value)
            .select_from(
                subscriber.outerjoin(delivery, delivery.c.subscriber_id == subscriber.c.id)
            )
            .where(subscriber.c.job_id == jobs.c.job_id)
            .order_by(subscriber.c.id)
            .limit(1)
            .scalar_subquery()
        )

    state = delivery.c.state
    op.execute(
        jobs.update().values(
            callback_url=first(subscriber.c.callback_url),
            failure_callback_url=first(subscriber.c.failure_callback_url),
            metadata_json=first(subscriber.c.metadata_json),
            webhook_state=first(sa.case((state == "sending", "pending"), else_=state)),
            webhook_attempts=sa.func.coalesce(first(delivery.c.attempts), 0),
            webhook_last_status=first(delivery.c.last_status),
        )
    )
