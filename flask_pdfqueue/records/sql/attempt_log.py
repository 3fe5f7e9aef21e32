"""``pdf_webhook_attempts``: every attempt at a webhook delivery, as it went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
)

from .columns import MYSQL_OPTIONS, Timestamp, metadata

pdf_webhook_attempts = Table(
    "pdf_webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "webhook_id",
        String(255),
        ForeignKey("pdf_webhook_deliveries.webhook_id"),
        nullable=False,
    ),
    Column("attempted_at", Timestamp, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Index("idx_attempts_webhook", "webhook_id"),
    **MYSQL_OPTIONS,
)
_table = pdf_webhook_attempts.c


@dataclass(frozen=True)
class AttemptLog:
    """What one attempt gave: an HTTP status, or an error before any answer."""

    attempted_at: datetime
    duration_ms: int
    http_status: int | None
    error: str | None


def log_attempt(conn: Connection, webhook_id: str, log: AttemptLog) -> None:
    conn.execute(
        insert(pdf_webhook_attempts).values(
            webhook_id=webhook_id,
            attempted_at=log.attempted_at,
            duration_ms=log.duration_ms,
            http_status=log.http_status,
            error=log.error,
        )
    )


def attempts_of(conn: Connection, webhook_id: str) -> list[AttemptLog]:
    """Every attempt at ``webhook_id``, oldest first."""
    query = (
        select(_table.attempted_at, _table.duration_ms, _table.http_status, _table.error)
        .where(_table.webhook_id == webhook_id)
        .order_by(_table.id)
    )
    return [AttemptLog(**dict(row._mapping)) for row in conn.execute(query)]


def any_error_starting(conn: Connection, webhook_id: str, starting: str) -> bool:
    """Whether an attempt at ``webhook_id`` was logged with an error starting so."""
    query = (
        select(_table.id)
        .where(_table.webhook_id == webhook_id, _table.error.startswith(starting, autoescape=True))
        .limit(1)
    )
    return conn.execute(query).first() is not None
