"""Accepting jobs: join the report's running job, or record a new one and queue it.

A submit for a report (``code`` + ``productId``) whose job is queued or running
joins that job: its callbacks become one more subscriber, so every caller hears
the outcome once and the PDF is rendered once. The report's ``dedupe_key`` is
unique among active jobs, so two submits racing for one report make one job.

A new job's SQL row is written before the job reaches Redis, so an accepted job
is never only in Redis, and that row is the promise: should Redis lose the job,
refuse it, or the web process die before queuing it, the reconciler queues it (the
report's job never hangs unqueued, holding its dedupe key). So a job whose row is
written is accepted, even when Redis refuses it a moment later: another submit may
have joined it already, and removing the row would take that caller's subscriber
with it. (A Redis that does not answer before the row is written gets a 503.) One
SQL transaction per job. A batch is recorded item by item and queued in one round
trip. The report document's ``queued`` is written after the answer
(:mod:`~flask_pdfqueue.records.queued_notes`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError

from .. import signals
from ..records.mongo import QueuedNote
from ..records.sql import JobRecord, SubscriberRequest
from ..records.sql.idempotency import RETENTION as KEY_RETENTION
from ..state import PDFQueueState
from ..timestamps import utcnow
from ..webhooks.callback_urls import CallbackRefused, check_callback_url, failure_callback_for
from .tracing import traceparent_for_submit

log = logging.getLogger(__name__)

#: Tries at "join the active job, else create one" when other submits race for the report.
JOIN_TRIES = 5


class SubmitRejected(Exception):
    """The job was not accepted; ``reason`` is a machine code, ``field`` the culprit if any."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


@dataclass(frozen=True)
class JobRequest:
    """One job as a client asked for it."""

    code: str
    product_id: str
    priority: str = "normal"
    callback: str | None = None
    failure_callback: str | None = None
    metadata: dict[str, object] | None = None
    deliver: str = "link"
    #: The submit's W3C ``traceparent`` header as sent; absent or invalid, the job starts
    #: a trace of its own.
    traceparent: str | None = None
    #: Which request this is, when it came with an ``Idempotency-Key`` (one per item of a
    #: batch): a request that takes over the key of one that died finds its job by it.
    request_ref: str | None = None


@dataclass(frozen=True)
class Accepted:
    """A queued job and where it stands; ``deduplicated`` when the submit joined it."""

    record: JobRecord
    position: int | None
    estimated_completion: datetime | None
    deduplicated: bool = False


def new_job_id() -> str:
    """Random, unique, and free of caller data (so it leaks nothing and never collides)."""
    return "pdf_" + uuid.uuid4().hex


def submit(state: PDFQueueState, request: JobRequest) -> Accepted:
    """Accept one job (or join the report's active one), or raise :class:`SubmitRejected`."""
    [outcome] = submit_many(state, [request])
    if isinstance(outcome, SubmitRejected):
        raise outcome
    return outcome


def submit_many(
    state: PDFQueueState, requests: Sequence[JobRequest]
) -> list[Accepted | SubmitRejected]:
    """Accept each job or say why not, in order; the new ones are queued together."""
    outcomes: list[Accepted | SubmitRejected | JobRecord] = []
    try:
        room = state.settings.max_queue_size - state.queue.waiting()
    except RedisError as exc:
        raise _queue_unavailable(exc) from None
    for request in requests:
        request = replace(request, traceparent=traceparent_for_submit(request.traceparent))
        try:
            subscriber = _subscriber(state, request)
            earlier = request.request_ref and state.jobs.requested_by(
                request.request_ref, since=state.jobs.clock.now() - KEY_RETENTION
            )
            if earlier:  # this request got that far before, in a process that died
                record, joined_before = earlier
                where = (None, None) if record.is_terminal else _where(state, [record])[0]
                outcomes.append(Accepted(record, *where, deduplicated=joined_before))
                continue
            joined = _join_active(state, request, subscriber)
            if joined is not None:
                outcomes.append(joined)
                continue
            if room <= 0:
                raise SubmitRejected(
                    "queue_full",
                    f"The queue holds {state.settings.max_queue_size} jobs already; "
                    "try again later.",
                )
            created = _record_new(state, request, subscriber)
            if isinstance(created, Accepted):  # another submit created it: joined
                outcomes.append(created)
                continue
            room -= 1
            outcomes.append(created)
        except SubmitRejected as rejected:
            outcomes.append(rejected)
    return _queue_new(state, outcomes)


def _subscriber(state: PDFQueueState, request: JobRequest) -> SubscriberRequest | None:
    """Who hears the outcome: the callbacks, vetted against the allow-list."""
    allowed = state.settings.callback_allowed_hosts
    callback = request.callback or state.settings.default_callback or None
    _vet("callback", callback, allowed)  # before a failure URL is derived from it
    failure_callback = request.failure_callback
    if failure_callback is None and callback is not None:
        failure_callback = failure_callback_for(callback)
    _vet("failure_callback", failure_callback, allowed)
    if callback is None and failure_callback is None and request.request_ref is None:
        return None
    return SubscriberRequest(
        callback,
        failure_callback,
        request.metadata,
        request.deliver,
        request.traceparent,
        request.request_ref,
    )


def _vet(field: str, url: str | None, allowed_hosts: Sequence[str]) -> None:
    if url is not None:
        try:
            check_callback_url(url, allowed_hosts)
        except CallbackRefused as exc:
            raise SubmitRejected("invalid_fields", str(exc), field=field) from None


def _join_active(
    state: PDFQueueState, request: JobRequest, subscriber: SubscriberRequest | None
) -> Accepted | None:
    active = state.jobs.active_for(request.code, request.product_id)
    if active is None or not state.jobs.join(active.job_id, subscriber):
        return None
    log.info("submit for job %s's report joined it", active.job_id)
    signals.send(signals.job_accepted, job=active, deduplicated=True)
    position, estimate = _where(state, [active])[0]
    return Accepted(active, position, estimate, deduplicated=True)


def _record_new(
    state: PDFQueueState, request: JobRequest, subscriber: SubscriberRequest | None
) -> JobRecord | Accepted:
    """A new job's row; or, when another submit made the report's job first, that job
    joined."""
    for _ in range(JOIN_TRIES):
        try:
            return state.jobs.insert_queued(
                job_id=new_job_id(),
                code=request.code,
                product_id=request.product_id,
                priority=request.priority,
                subscriber=subscriber,
                traceparent=request.traceparent,
            )
        except IntegrityError:  # the report's job exists now: join it
            joined = _join_active(state, request, subscriber)
            if joined is not None:
                return joined
    raise SubmitRejected(
        "conflict", "The report's job changed too often while joining it; try again."
    )


def _queue_new(
    state: PDFQueueState, outcomes: list[Accepted | SubmitRejected | JobRecord]
) -> list[Accepted | SubmitRejected]:
    """Queue the new jobs in one round trip and tell where each stands."""
    created = [o for o in outcomes if isinstance(o, JobRecord)]
    if not created:
        return [o for o in outcomes if not isinstance(o, JobRecord)]
    try:
        state.queue.enqueue_many([(r.job_id, r.priority) for r in created])
        where = iter(_where(state, created))
    except RedisError as exc:  # the rows are the promise: the reconciler queues them
        log.warning(
            "%d accepted job(s) not queued now, the reconciler will: %s",
            len(created),
            type(exc).__name__,
        )
        where = iter([(None, None)] * len(created))
    now = utcnow()
    state.queued_notes.add(
        QueuedNote(r.code, r.product_id, r.job_id, r.created_at, now) for r in created
    )
    for record in created:
        log.info("accepted job %s (priority %s)", record.job_id, record.priority)
        signals.send(signals.job_accepted, job=record, deduplicated=False)
    return [Accepted(o, *next(where)) if isinstance(o, JobRecord) else o for o in outcomes]


def _where(
    state: PDFQueueState, records: Sequence[JobRecord]
) -> list[tuple[int | None, datetime | None]]:
    """Position and estimate of each job; without them when Redis does not say (the jobs
    are queued all the same)."""
    try:
        positions = state.queue.positions([(r.rq_job_id or r.job_id, r.priority) for r in records])
        # None: a worker took the job already (or it waits for a retry): nothing is ahead.
        ahead = [p or 0 for p in positions]
        return list(zip(ahead, state.queue.estimates(ahead), strict=True))
    except RedisError:
        return [(None, None)] * len(records)


def _queue_unavailable(exc: RedisError) -> SubmitRejected:
    log.warning("submit refused, Redis unreachable: %s", exc)
    return SubmitRejected(
        "queue_unavailable", "The queue (Redis) is not answering; try again later."
    )
