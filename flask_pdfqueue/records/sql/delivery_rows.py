"""``pdf_webhook_deliveries``: the webhook outbox's table and row (:class:`Delivery`), and
owing events into it (:func:`owe_terminal_event`, inside the transaction that records
the outcome). Claims, attempts and replays are :class:`~.deliveries.DeliveryStore`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
)

from .columns import MYSQL_OPTIONS, LongText, Timestamp, metadata
from .subscribers import Subscriber, subscribers_of

DELIVERY_STATES = ("pending", "sending", "delivered", "failed")
OWED = ("pending", "sending")

pdf_webhook_deliveries = Table(
    "pdf_webhook_deliveries",
    metadata,
    Column("webhook_id", String(255), primary_key=True),
    # NULL for an alert: it belongs to no job and no subscriber
    Column("job_id", String(255), ForeignKey("pdf_job_results.job_id")),
    Column("subscriber_id", Integer, ForeignKey("pdf_job_subscribers.id")),
    Column("event", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", LongText, nullable=False),
    Column("state", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("round_attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Timestamp),
    Column("claimed_at", Timestamp),
    Column("claim_token", String(64)),
    Column("last_status", Integer),
    Column("last_error", Text),
    Column("delivered_at", Timestamp),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("traceparent", String(55)),
    CheckConstraint(
        "state IN (" + ", ".join(f"'{state}'" for state in DELIVERY_STATES) + ")", name="state"
    ),
    Index("idx_deliveries_job", "job_id"),
    Index("idx_deliveries_subscriber", "subscriber_id", unique=True),
    Index("idx_deliveries_due", "state", "next_attempt_at"),
    **MYSQL_OPTIONS,
)


@dataclass(frozen=True)
class Delivery:
    """One owed (or settled) webhook event for one subscriber (or, without either, an
    alert's event for ``PDFQUEUE_ALERT_WEBHOOK``)."""

    webhook_id: str
    job_id: str | None
    subscriber_id: int | None
    event: str
    url: str
    payload: str
    state: str
    attempts: int
    round_attempts: int
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None = None
    claimed_at: datetime | None = None
    claim_token: str | None = None
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    traceparent: str | None = None

    @property
    def is_owed(self) -> bool:
        return self.state in OWED

    @classmethod
    def from_row(cls, row: Any) -> Delivery:
        return cls(**dict(row._mapping))


COLUMNS = [pdf_webhook_deliveries.c[f.name] for f in fields(Delivery)]


def new_webhook_id() -> str:
    return "msg_" + uuid.uuid4().hex


def owe_terminal_event(
    conn: Connection,
    job_id: str,
    status: str,
    *,
    body_for: Callable[[Subscriber], str],
    traceparent: str | None,
    now: datetime,
) -> list[Delivery]:
    """Owe the finished job's ``status`` event to each subscriber that has a URL for it,
    with the body ``body_for`` writes for it and the trace of its submit, due ``now``.

    Runs inside the transaction that recorded the outcome: both or neither.
    """
    owed = []
    for subscriber in subscribers_of(conn, job_id):
        url = subscriber.url_for(status)
        if url is None:
            continue
        owed.append(
            owe(
                conn,
                due_now(
                    new_webhook_id(),
                    status,
                    url,
                    body_for(subscriber),
                    now,
                    job_id=job_id,
                    subscriber_id=subscriber.id,
                    traceparent=subscriber.traceparent or traceparent,
                ),
            )
        )
    return owed


def due_now(
    webhook_id: str,
    event: str,
    url: str,
    payload: str,
    now: datetime,
    *,
    job_id: str | None = None,
    subscriber_id: int | None = None,
    traceparent: str | None = None,
) -> Delivery:
    """A new delivery, owed from ``now`` (an alert's has no job, subscriber or trace)."""
    return Delivery(
        webhook_id=webhook_id,
        job_id=job_id,
        subscriber_id=subscriber_id,
        event=event,
        url=url,
        payload=payload,
        state="pending",
        attempts=0,
        round_attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        traceparent=traceparent,
    )


def owe(conn: Connection, delivery: Delivery) -> Delivery:
    conn.execute(insert(pdf_webhook_deliveries).values(**_values(delivery)))
    return delivery


def _values(delivery: Delivery) -> dict[str, Any]:
    return {f.name: getattr(delivery, f.name) for f in fields(Delivery)}
