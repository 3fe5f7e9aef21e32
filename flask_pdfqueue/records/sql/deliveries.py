"""Claims, attempts and replays of the webhook outbox (its table and row:
:mod:`.delivery_rows`; its attempt log: :mod:`.attempt_log`).

A job's terminal transition owes one delivery per subscriber, written in the same
transaction (:func:`~.delivery_rows.owe_terminal_event`), with the exact body every attempt will
send and a stable ``webhook_id``. A delivery is claimed before each attempt; the
claim is a lease (``claimed_at``): a claim whose process died is taken again once
the lease runs out. Every attempt leaves a row in ``pdf_webhook_attempts``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from .attempt_log import AttemptLog, any_error_starting, attempts_of, log_attempt
from .clock import DatabaseClock
from .delivery_rows import (
    COLUMNS,
    Delivery,
    due_now,
    owe,
    pdf_webhook_deliveries,
)

#: A retry counts as due this much early: the clocks that woke it (its scheduler's, read
#: through Redis) and that judge it (the database's) are each known to a round trip.
CLOCK_SLACK = timedelta(milliseconds=500)

_table = pdf_webhook_deliveries.c


class DeliveryStore:
    """Claims, attempts and replays of webhook deliveries."""

    def __init__(self, engine: Engine, clock: DatabaseClock | None = None) -> None:
        self.engine = engine
        self.clock = clock or DatabaseClock(engine)

    def owe_event(self, webhook_id: str, event: str, url: str, payload: str) -> Delivery | None:
        """Owe an event of no job (an alert) under its own, stable ``webhook_id``; None when
        it is owed already (another process saw the same change first)."""
        due = due_now(webhook_id, event, url, payload, self.clock.now())
        try:
            with self.engine.begin() as conn:
                return owe(conn, due)
        except IntegrityError:
            return None

    def get(self, webhook_id: str) -> Delivery | None:
        rows = self._select((_table.webhook_id == webhook_id,))
        return rows[0] if rows else None

    def for_job(self, job_id: str) -> list[Delivery]:
        return self._select((_table.job_id == job_id,), order=_table.subscriber_id)

    def claim(
        self, webhook_id: str, *, lease: timedelta, token: str | None = None
    ) -> Delivery | None:
        """Take a due delivery for one attempt; None when it is not owed, not due, or held
        by a live claim. The returned delivery carries the claim's ``token`` (the RQ job
        making the attempt, so its death can release exactly its claim).

        The first attempt of a round (a new event, or a replayed one) is due at once;
        only retries wait for their time, by the database's clock."""
        now = self.clock.now()
        token = token or secrets.token_hex(16)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(pdf_webhook_deliveries)
                .where(_table.webhook_id == webhook_id)
                .where(
                    or_(
                        and_(
                            _table.state == "pending",
                            or_(
                                _table.next_attempt_at.is_(None),
                                _table.round_attempts == 0,
                                _table.next_attempt_at <= now + CLOCK_SLACK,
                            ),
                        ),
                        and_(_table.state == "sending", _table.claimed_at < now - lease),
                    )
                )
                .values(state="sending", claimed_at=now, claim_token=token, updated_at=now)
            )
            if result.rowcount != 1:
                return None
            row = conn.execute(select(*COLUMNS).where(_table.webhook_id == webhook_id)).one()
        return Delivery.from_row(row)

    def not_due_yet(self, webhook_id: str) -> tuple[Delivery, float] | None:
        """A pending retry of ``webhook_id`` that is not due yet, with the seconds left (by
        the database's clock); None when there is none."""
        delivery = self.get(webhook_id)
        if delivery is None or delivery.state != "pending" or delivery.round_attempts == 0:
            return None
        if delivery.next_attempt_at is None:  # a row written by an older version
            return None
        wait = (delivery.next_attempt_at - self.clock.now() - CLOCK_SLACK).total_seconds()
        return (delivery, wait) if wait > 0 else None

    def finish_attempt(
        self,
        claimed: Delivery,
        log: AttemptLog,
        *,
        state: str,
        retry_in: float | None = None,
    ) -> bool:
        """Log the attempt and settle the claim as ``delivered``, ``failed`` or ``pending``
        (due again ``retry_in`` seconds from now). False if the claim had been taken over."""
        now = self.clock.now()
        due = now + timedelta(seconds=retry_in) if retry_in is not None else None
        with self.engine.begin() as conn:
            log_attempt(conn, claimed.webhook_id, log)
            result = conn.execute(
                update(pdf_webhook_deliveries)
                .where(_table.webhook_id == claimed.webhook_id)
                .where(_table.state == "sending")
                .where(_table.claim_token == claimed.claim_token)
                .values(
                    state=state,
                    attempts=_table.attempts + 1,
                    round_attempts=_table.round_attempts + 1,
                    last_status=log.http_status,
                    last_error=log.error,
                    next_attempt_at=due,
                    delivered_at=now if state == "delivered" else _table.delivered_at,
                    claimed_at=None,
                    claim_token=None,
                    updated_at=now,
                )
            )
        return bool(result.rowcount == 1)

    def release(self, claimed: Delivery) -> None:
        """Give back a claim whose attempt got no answer to record (the process was
        interrupted): the delivery is due again at once."""
        self._reopen(
            (_table.webhook_id == claimed.webhook_id, _table.claim_token == claimed.claim_token)
        )

    def release_expired(self, *, lease: timedelta) -> list[Delivery]:
        """Reopen deliveries whose claimer died mid-attempt (its lease ran out)."""
        expired = self._select(
            (_table.state == "sending", _table.claimed_at < self.clock.now() - lease), limit=500
        )
        for delivery in expired:
            self._reopen(
                (
                    _table.webhook_id == delivery.webhook_id,
                    _table.claim_token == delivery.claim_token,
                )
            )
        return [d for d in self._select_ids(d.webhook_id for d in expired) if d.state == "pending"]

    def overdue(self, *, due_before: datetime) -> list[Delivery]:
        """Pending deliveries that should have been attempted by ``due_before``."""
        return self._select(
            (_table.state == "pending", _table.next_attempt_at < due_before), limit=500
        )

    def find(
        self,
        *,
        job_id: str | None = None,
        states: Iterable[str] = (),
        since: datetime | None = None,
    ) -> list[Delivery]:
        """Deliveries by job, state and creation time (what replay selects)."""
        conditions: list[Any] = []
        if job_id is not None:
            conditions.append(_table.job_id == job_id)
        if states:
            conditions.append(_table.state.in_(list(states)))
        if since is not None:
            conditions.append(_table.created_at >= since)
        return self._select(conditions, order=_table.created_at)

    def replay(self, webhook_ids: Iterable[str]) -> list[Delivery]:
        """Owe these events again, due now, with a fresh retry schedule; one in flight
        (``sending``) is left to its attempt."""
        ids = list(webhook_ids)
        if not ids:
            return []
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_webhook_deliveries)
                .where(_table.webhook_id.in_(ids))
                .where(_table.state != "sending")
                .values(state="pending", next_attempt_at=now, round_attempts=0, updated_at=now)
            )
        return [d for d in self._select_ids(ids) if d.state == "pending"]

    def attempts_of(self, webhook_id: str) -> list[AttemptLog]:
        with self.engine.connect() as conn:
            return attempts_of(conn, webhook_id)

    def had_attempt_with_error(self, webhook_id: str, *, starting: str) -> bool:
        """Whether an attempt at ``webhook_id`` was logged with an error starting so."""
        with self.engine.connect() as conn:
            return any_error_starting(conn, webhook_id, starting)

    def _reopen(self, conditions: Sequence[Any]) -> None:
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                update(pdf_webhook_deliveries)
                .where(_table.state == "sending", *conditions)
                .values(
                    state="pending",
                    next_attempt_at=now,
                    claimed_at=None,
                    claim_token=None,
                    updated_at=now,
                )
            )

    def _select_ids(self, webhook_ids: Iterable[str]) -> list[Delivery]:
        ids = list(webhook_ids)
        return self._select((_table.webhook_id.in_(ids),)) if ids else []

    def _select(
        self, conditions: Sequence[Any], *, order: Any = None, limit: int | None = None
    ) -> list[Delivery]:
        query = (
            select(*COLUMNS)
            .where(*conditions)
            .order_by(_table.next_attempt_at if order is None else order)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [Delivery.from_row(row) for row in conn.execute(query)]
