"""Forgetting finished jobs: their rows in every table, oldest first, never an active one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, select

from .attempt_log import pdf_webhook_attempts
from .delivery_rows import pdf_webhook_deliveries
from .job_rows import TERMINAL, pdf_job_results
from .subscribers import pdf_job_subscribers

_BATCH = 500


def purge_finished(
    engine: Engine, *, finished_before: datetime, statuses: Sequence[str] = TERMINAL
) -> list[tuple[str, str | None]]:
    """Delete jobs in ``statuses`` that ended before ``finished_before``, with their
    subscribers, deliveries and attempt log (and the alert events settled by then); the
    ``(job_id, storage_key)`` of each."""
    if not set(statuses) <= set(TERMINAL):
        raise ValueError("only finished jobs can be purged")
    _purge_alert_events(engine, settled_before=finished_before)
    jobs = pdf_job_results.c
    gone: list[tuple[str, str | None]] = []
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(jobs.job_id, jobs.storage_key)
                .where(jobs.status.in_(list(statuses)), jobs.completed_at < finished_before)
                .order_by(jobs.completed_at)
                .limit(_BATCH)
            ).all()
            if not rows:
                return gone
            ids = [row.job_id for row in rows]
            webhooks = select(pdf_webhook_deliveries.c.webhook_id).where(
                pdf_webhook_deliveries.c.job_id.in_(ids)
            )
            conn.execute(
                delete(pdf_webhook_attempts).where(pdf_webhook_attempts.c.webhook_id.in_(webhooks))
            )
            conn.execute(
                delete(pdf_webhook_deliveries).where(pdf_webhook_deliveries.c.job_id.in_(ids))
            )
            conn.execute(delete(pdf_job_subscribers).where(pdf_job_subscribers.c.job_id.in_(ids)))
            conn.execute(delete(pdf_job_results).where(jobs.job_id.in_(ids)))
        gone.extend((row.job_id, row.storage_key) for row in rows)


def _purge_alert_events(engine: Engine, *, settled_before: datetime) -> None:
    """Alert events (no job) delivered or given up on before ``settled_before``."""
    table = pdf_webhook_deliveries.c
    with engine.begin() as conn:
        # the ids first: MySQL deletes from no table it selects from in the same statement
        ids = (
            conn.execute(
                select(table.webhook_id).where(
                    table.job_id.is_(None),
                    table.state.in_(["delivered", "failed"]),
                    table.updated_at < settled_before,
                )
            )
            .scalars()
            .all()
        )
        if ids:
            attempts = pdf_webhook_attempts.c
            conn.execute(delete(pdf_webhook_attempts).where(attempts.webhook_id.in_(ids)))
            conn.execute(delete(pdf_webhook_deliveries).where(table.webhook_id.in_(ids)))
