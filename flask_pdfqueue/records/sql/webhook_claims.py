"""``pdf_webhook_claims``: receivers' claims of ``webhook-id``s, the first one wins.

A receiver (the n8n PDF Queue Trigger) claims an event's id before it runs anything for
it, so an event the service sends twice (a retry after a lost answer, a replay, two
attempts that overlap) starts the receiver's workflow once. The claim is an insert under
a primary key: of two claims at the same instant one inserts and the other gets an
``IntegrityError``. The claims are kept in SQL, the record, so a Redis restart or flush
forgets none of them; the reconciler forgets them after :data:`RETENTION`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Column, Engine, Index, String, Table, delete, insert, update
from sqlalchemy.exc import IntegrityError

from .clock import DatabaseClock
from .columns import MYSQL_OPTIONS, Timestamp, metadata

#: How long a claimed id stays claimed: past the webhook retry schedule (~11 h) and the
#: time within which operators replay events.
RETENTION = timedelta(days=30)

pdf_webhook_claims = Table(
    "pdf_webhook_claims",
    metadata,
    Column("claim_digest", String(64), primary_key=True),
    Column("claimed_at", Timestamp, nullable=False),
    Index("idx_webhook_claims_claimed_at", "claimed_at"),
    **MYSQL_OPTIONS,
)
_table = pdf_webhook_claims.c
_INSERT = insert(pdf_webhook_claims)


def claim_digest(webhook_id: str, consumer: str) -> str:
    """The claim's key: fixed length whatever the ids are, and no separator to forge."""
    return hashlib.sha256(f"{len(consumer)}:{consumer}{webhook_id}".encode()).hexdigest()


class WebhookClaims:
    """Claim ``webhook-id``s for receivers, and forget old claims."""

    def __init__(self, engine: Engine, clock: DatabaseClock | None = None) -> None:
        self.engine = engine
        self.clock = clock or DatabaseClock(engine)

    def claim(self, webhook_id: str, consumer: str) -> bool:
        """Claim ``webhook_id`` for ``consumer`` (one receiver: its claims are its own);
        True the first time, False ever after within the retention."""
        digest = claim_digest(webhook_id, consumer)
        now = self.clock.now()
        try:
            with self.engine.begin() as conn:
                conn.execute(_INSERT, {"claim_digest": digest, "claimed_at": now})
            return True
        except IntegrityError:
            return self._renew_expired(digest, now)

    def _renew_expired(self, digest: str, now: datetime) -> bool:
        """Make a claim older than the retention (not forgotten yet) new and ours; of two
        renewals the second finds it new already."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(pdf_webhook_claims)
                .where(_table.claim_digest == digest, _table.claimed_at < now - RETENTION)
                .values(claimed_at=now)
            )
        return bool(result.rowcount == 1)

    def forget_expired(self, now: datetime | None = None) -> int:
        """Delete claims older than the retention; how many went."""
        cutoff = (now or self.clock.now()) - RETENTION
        with self.engine.begin() as conn:
            result = conn.execute(delete(pdf_webhook_claims).where(_table.claimed_at < cutoff))
        return int(result.rowcount)
