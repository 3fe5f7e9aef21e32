"""``pdf_idempotency_keys``: the answer given to an ``Idempotency-Key``, kept for 24 hours.

A client (an API key) that sends the same key with the same body again gets the
original answer, and nothing is added; with another body it gets a 422. The key
is reserved before the work starts (an insert under a primary key), so two
requests racing with one key cannot both do the work. A reservation left without
an answer for :data:`TAKEOVER_AFTER` (its process died, or could not store the
answer) is taken over by the next request with the same key and body, which does
the work again (finding, by the request's reference, the job the first one made).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from .clock import DatabaseClock
from .columns import MYSQL_OPTIONS, Timestamp, metadata

#: How long an answer is kept and replayed.
RETENTION = timedelta(hours=24)
#: How long a reservation may wait for its answer before another request takes it over.
TAKEOVER_AFTER = timedelta(minutes=1)

pdf_idempotency_keys = Table(
    "pdf_idempotency_keys",
    metadata,
    Column("client", String(64), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response", Text),
    Column("created_at", Timestamp, nullable=False),
    Index("idx_idempotency_created_at", "created_at"),
    **MYSQL_OPTIONS,
)
_table = pdf_idempotency_keys.c


@dataclass(frozen=True)
class StoredAnswer:
    """What the key holds: the request it was used with, and the answer once given."""

    request_hash: str
    status_code: int | None
    response: dict[str, Any] | None  # None with status_code: still being answered


class IdempotencyStore:
    """Reserve, answer and release idempotency keys."""

    def __init__(self, engine: Engine, clock: DatabaseClock | None = None) -> None:
        self.engine = engine
        self.clock = clock or DatabaseClock(engine)

    def reserve(self, client: str, key: str, request_hash: str) -> StoredAnswer | None:
        """Take ``key`` for this request: None when it is ours now, else what it holds."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(  # an expired answer is forgotten
                delete(pdf_idempotency_keys).where(
                    and_(
                        _table.client == client,
                        _table.idempotency_key == key,
                        _table.created_at < now - RETENTION,
                    )
                )
            )
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(pdf_idempotency_keys).values(
                        client=client,
                        idempotency_key=key,
                        request_hash=request_hash,
                        created_at=now,
                    )
                )
            return None
        except IntegrityError:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(
                        _table.request_hash,
                        _table.status_code,
                        _table.response,
                        _table.created_at,
                    ).where(_table.client == client, _table.idempotency_key == key)
                ).first()
            if row is None:  # released meanwhile: try once more
                return self.reserve(client, key, request_hash)
            if (
                row.status_code is None
                and row.request_hash == request_hash
                and row.created_at < now - TAKEOVER_AFTER
                and self._take_over(client, key, row.created_at, now)
            ):
                return None
            raw = row.response
            return StoredAnswer(row.request_hash, row.status_code, json.loads(raw) if raw else None)

    def _take_over(self, client: str, key: str, reserved_at: datetime, now: datetime) -> bool:
        """Make an unanswered reservation ours, unless another request took it first."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(pdf_idempotency_keys)
                .where(
                    _table.client == client,
                    _table.idempotency_key == key,
                    _table.status_code.is_(None),
                    _table.created_at == reserved_at,
                )
                .values(created_at=now)
            )
        return bool(result.rowcount == 1)

    def answer(self, client: str, key: str, status_code: int, response: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_idempotency_keys)
                .where(_table.client == client, _table.idempotency_key == key)
                .values(status_code=status_code, response=json.dumps(response))
            )

    def release(self, client: str, key: str) -> None:
        """Free a key whose request was refused, so the client can try again with it."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(pdf_idempotency_keys).where(
                    _table.client == client,
                    _table.idempotency_key == key,
                    _table.status_code.is_(None),
                )
            )

    def forget_expired(self, now: datetime | None = None) -> int:
        """Delete answers older than the retention; how many went."""
        cutoff = (now or self.clock.now()) - RETENTION
        with self.engine.begin() as conn:
            result = conn.execute(delete(pdf_idempotency_keys).where(_table.created_at < cutoff))
        return int(result.rowcount)
