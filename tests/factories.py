"""Jobs in a given state, written the way the service writes them (for tests of what
happens next: failures, reconciling, delivering)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import update

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.jobs.reconcile import MISSING_KEY
from flask_pdfqueue.jobs.submission import new_job_id
from flask_pdfqueue.records.sql import SubscriberRequest, pdf_job_results
from flask_pdfqueue.timestamps import redis_now, utcnow
from tests.conftest import make_isolated_app
from tests.servers import RunningServer


def isolated_app(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    home: Path,
    *,
    redis_db: int,
    **overrides: str,
) -> Iterator[Flask]:
    """An isolated app inside its app context (what RQ's callbacks run in); its Redis
    database flushed and its connections closed afterwards."""
    app: Flask = make_isolated_app(
        {**stack_settings, **overrides}, redis_server, home, redis_db=redis_db
    )
    state = state_of(app)
    with app.app_context():
        yield app
    state.redis.flushdb()
    state.close()


def isolated_state(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    home: Path,
    *,
    redis_db: int,
    **overrides: str,
) -> Iterator[PDFQueueState]:
    """The state of :func:`isolated_app`, inside its app context."""
    for app in isolated_app(stack_settings, redis_server, home, redis_db=redis_db, **overrides):
        yield state_of(app)


def state_of(app: Flask) -> PDFQueueState:
    state: PDFQueueState = app.extensions["pdfqueue"]
    return state


def queued_job(
    state: PDFQueueState,
    *,
    code: str = "DEMO-001",
    callback: str | None = "http://127.0.0.1:9/webhook/pdf-complete",
    failure_callback: str | None = "http://127.0.0.1:9/webhook/pdf-failed",
    metadata: dict[str, Any] | None = None,
    enqueue: bool = False,
) -> str:
    """An accepted job (row and subscriber), in Redis too if ``enqueue``."""
    job_id = new_job_id()
    subscriber = None
    if callback or failure_callback:
        subscriber = SubscriberRequest(callback, failure_callback, metadata)
    state.jobs.insert_queued(
        job_id=job_id,
        code=code,
        product_id="minatBakatUmum",
        priority="normal",
        subscriber=subscriber,
    )
    if enqueue:
        state.queue.enqueue(job_id, "normal")
    return job_id


def processing_job(state: PDFQueueState, **options: Any) -> str:
    """A job whose first run has started."""
    job_id = queued_job(state, **options)
    assert state.jobs.start_attempt(job_id, job_id)
    return job_id


def make_idle(state: PDFQueueState, job_id: str, seconds: float = 120) -> None:
    """Pretend nothing touched the job for ``seconds`` (the reconciler's grace), and that its
    current run, if RQ does not hold it, has been missing as long (its visibility window)."""
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_job_results)
            .where(pdf_job_results.c.job_id == job_id)
            .values(updated_at=utcnow() - timedelta(seconds=seconds))
        )
    record = state.jobs.get(job_id)
    assert record is not None
    run = record.rq_job_id or job_id
    if not state.queue.holds(run):
        since = redis_now(state.redis).timestamp() - seconds
        state.redis.set(MISSING_KEY.format(run=run), since, ex=3600)
