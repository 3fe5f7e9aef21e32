"""Accepting a job: record it, then queue it, and say where it stands.

The SQL row is written before the job reaches Redis, so an accepted job is never
only in Redis. If Redis refuses the job, the row is removed again and the caller
gets a 503: nothing is accepted that is not queued. Once Redis has it, the row
says so (``enqueued_at``): only such jobs are ever brought back by the reconciler.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from .callbacks import CallbackRefused, check_callback_url, failure_callback_for
from .extension import PDFQueueState
from .records.sql import JobRecord, SubscriberRequest
from .steps.record import note_in_report

log = logging.getLogger(__name__)

#: How long a submit may spend writing ``queued`` into the report document (best effort:
#: the worker writes ``processing`` moments later anyway).
SUBMIT_MIRROR_SECONDS = 0.5


class SubmitRejected(Exception):
    """The job was not accepted; ``reason`` is a machine code, ``field`` the culprit if any."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Accepted:
    """A queued job and where it stands."""

    record: JobRecord
    position: int | None
    estimated_completion: datetime | None


def new_job_id() -> str:
    """Random, unique, and free of caller data (so it leaks nothing and never collides)."""
    return "pdf_" + uuid.uuid4().hex


def submit(
    state: PDFQueueState,
    *,
    code: str,
    product_id: str,
    priority: str = "normal",
    callback: str | None = None,
    failure_callback: str | None = None,
    metadata: dict[str, object] | None = None,
) -> Accepted:
    """Accept one job, or raise :class:`SubmitRejected`."""
    settings = state.settings
    callback = callback or settings.default_callback or None
    if failure_callback is None and callback is not None:
        failure_callback = failure_callback_for(callback)
    for name, url in (("callback", callback), ("failure_callback", failure_callback)):
        if url is not None:
            try:
                check_callback_url(url, settings.callback_allowed_hosts)
            except CallbackRefused as exc:
                raise SubmitRejected("invalid_fields", str(exc), field=name) from None

    try:
        if state.queue.waiting() >= settings.max_queue_size:
            raise SubmitRejected(
                "queue_full",
                f"The queue holds {settings.max_queue_size} jobs already; try again later.",
            )
    except RedisError as exc:
        raise _queue_unavailable(exc) from None

    job_id = new_job_id()
    subscriber = None
    if callback is not None or failure_callback is not None:
        subscriber = SubscriberRequest(callback, failure_callback, metadata)
    record = state.jobs.insert_queued(
        job_id=job_id, code=code, product_id=product_id, priority=priority, subscriber=subscriber
    )
    try:
        state.queue.enqueue(job_id, priority)
    except RedisError as exc:
        state.jobs.delete(job_id)
        raise _queue_unavailable(exc) from None
    try:
        state.jobs.mark_enqueued(job_id)
    except SQLAlchemyError as exc:  # queued all the same: its first run sets enqueued_at
        log.warning("job %s: enqueued_at not recorded: %s", job_id, type(exc).__name__)
    note_in_report(state, record, within=SUBMIT_MIRROR_SECONDS, status="queued", retry_count=0)
    log.info("accepted job %s (priority %s)", job_id, priority)

    try:
        # None: a worker took the job already, so nothing is ahead of it.
        position = state.queue.position(job_id, priority) or 0
        estimate: datetime | None = state.queue.estimate(position)
    except RedisError:  # the job is queued; an answer without a position is still true
        position, estimate = None, None
    return Accepted(record=record, position=position, estimated_completion=estimate)


def _queue_unavailable(exc: RedisError) -> SubmitRejected:
    log.warning("submit refused, Redis unreachable: %s", exc)
    return SubmitRejected(
        "queue_unavailable", "The queue (Redis) is not answering; try again later."
    )
