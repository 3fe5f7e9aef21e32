"""``pdf_job_subscribers``: who waits for a job's outcome, and where to tell them.

A job has one subscriber per submit that asked for a callback (or sent an
``Idempotency-Key``: the subscriber then also says which request made or joined the
job): the first when it is accepted, more when later submits for the same report
join it instead of rendering it again. Each subscriber gets the terminal event with its own
``metadata`` and its own ``webhook-id``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)

from .columns import MYSQL_OPTIONS, Timestamp, metadata

pdf_job_subscribers = Table(
    "pdf_job_subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(255), ForeignKey("pdf_job_results.job_id"), nullable=False),
    Column("callback_url", Text),
    Column("failure_callback_url", Text),
    Column("metadata_json", Text),
    Column("created_at", Timestamp, nullable=False),
    Column("deliver", String(8), nullable=False, server_default="link"),
    Column("traceparent", String(55)),
    Column("request_ref", String(80)),
    Index("idx_subscribers_job", "job_id"),
    Index("idx_subscribers_request_ref", "request_ref"),
    **MYSQL_OPTIONS,
)


@dataclass(frozen=True)
class SubscriberRequest:
    """What a submit asks for: where success and failure go, what to echo back, whether
    the PDF comes inline (``deliver``), the submit's trace, and which request it is
    (``request_ref``, from its ``Idempotency-Key``)."""

    callback_url: str | None
    failure_callback_url: str | None
    metadata: dict[str, Any] | None = None
    deliver: str = "link"
    traceparent: str | None = None
    request_ref: str | None = None


@dataclass(frozen=True)
class Subscriber:
    """One row of ``pdf_job_subscribers``."""

    id: int
    job_id: str
    callback_url: str | None
    failure_callback_url: str | None
    metadata: dict[str, Any] | None
    created_at: datetime
    deliver: str = "link"
    traceparent: str | None = None
    request_ref: str | None = None

    def url_for(self, status: str) -> str | None:
        """Success goes to the callback; failure and cancellation to the failure callback."""
        return self.callback_url if status == "completed" else self.failure_callback_url

    @classmethod
    def from_row(cls, row: Any) -> Subscriber:
        data = dict(row._mapping)
        raw = data.pop("metadata_json")
        return cls(**data, metadata=json.loads(raw) if raw else None)


_INSERT_SUBSCRIBER = insert(pdf_job_subscribers)  # built once: every submit with a callback


def add_subscriber(
    conn: Connection, job_id: str, request: SubscriberRequest, now: datetime
) -> None:
    conn.execute(
        _INSERT_SUBSCRIBER,
        {
            "job_id": job_id,
            "callback_url": request.callback_url,
            "failure_callback_url": request.failure_callback_url,
            "metadata_json": (
                json.dumps(request.metadata) if request.metadata is not None else None
            ),
            "created_at": now,
            "deliver": request.deliver,
            "traceparent": request.traceparent,
            "request_ref": request.request_ref,
        },
    )


def subscribers_of(conn: Connection, job_id: str) -> list[Subscriber]:
    rows = conn.execute(
        select(pdf_job_subscribers)
        .where(pdf_job_subscribers.c.job_id == job_id)
        .order_by(pdf_job_subscribers.c.id)
    )
    return [Subscriber.from_row(row) for row in rows]


def subscription_by(
    conn: Connection, request_ref: str, *, since: datetime
) -> tuple[str, bool] | None:
    """The job the request ``request_ref`` made or joined since ``since``, and whether it
    joined it (an earlier subscriber was there first); None when no such request was
    recorded (an older one is a key used again after it expired: not the same request)."""
    table = pdf_job_subscribers.c
    row = conn.execute(
        select(table.job_id, table.id)
        .where(table.request_ref == request_ref, table.created_at >= since)
        .order_by(table.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    first = conn.execute(select(func.min(table.id)).where(table.job_id == row.job_id)).scalar()
    return str(row.job_id), first != row.id
