"""Receiver-side claims of ``webhook-id``s: the first claim of an id wins, every later one loses.

A receiver (the n8n PDF Queue Trigger) asks before it runs anything for an event, so a
delivery the service sends twice (a retry after a lost answer, a replay, two attempts that
overlap) starts the receiver's workflow once. One ``SET NX`` decides, so two claims at
the same instant cannot both win. A claim is kept as long as the events it guards can be
replayed in practice (``RETENTION_SECONDS``); Redis's AOF keeps it across a restart.
"""

from __future__ import annotations

import hashlib

from redis import Redis

__all__ = ["RETENTION_SECONDS", "claim"]

#: How long a claimed id stays claimed: 30 days, past the webhook retry schedule (~11 h)
#: and the time within which operators replay events.
RETENTION_SECONDS = 30 * 24 * 3600
KEY = "pdfqueue:webhook-claim:{digest}"


def claim(redis: Redis, webhook_id: str, consumer: str) -> bool:
    """Claim ``webhook_id`` for ``consumer`` (one receiver: its claims are its own); True
    the first time, False ever after within the retention."""
    # Hashed: the key's length is fixed whatever the ids are, and the separator cannot be forged.
    digest = hashlib.sha256(f"{len(consumer)}:{consumer}{webhook_id}".encode()).hexdigest()
    return bool(redis.set(KEY.format(digest=digest), "1", nx=True, ex=RETENTION_SECONDS))
