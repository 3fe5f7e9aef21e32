"""Running deliveries: queue them, make one attempt, schedule the next.

An attempt is an RQ job on the webhook queue, or a first attempt made by the render
job process's courier (:mod:`.courier`). It claims the delivery (a lease, so a dead
attempt is taken again later), POSTs the stored body, logs the attempt, and either
settles the delivery or schedules the next attempt, always a delivery job, on SPEC
§3's schedule. A render never waits on a receiver.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable

from redis.exceptions import RedisError
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from ... import signals
from ...records.sql import AttemptLog, Delivery
from ...state import PDFQueueState
from ...webhooks.schedule import retry_wait
from ...webhooks.sender import SENT_UNANSWERED, DeliveryResult
from ..tracing import child_traceparent, traced

log = logging.getLogger(__name__)


def dispatch(state: PDFQueueState, deliveries: Iterable[Delivery], *, delay: float = 0) -> None:
    """Queue the next attempt of each delivery, at once or in ``delay`` seconds (what Redis
    refuses, the reconciler queues)."""
    for delivery in deliveries:
        try:
            state.queue.enqueue_delivery(delivery, delay=delay)
        except RedisError as exc:
            log.warning(
                "webhook %s (job %s) not queued now, the reconciler will: %s",
                delivery.webhook_id,
                delivery.job_id or "-",
                type(exc).__name__,
            )


def attempt_delivery(state: PDFQueueState, webhook_id: str) -> Delivery | None:
    """Make one attempt at ``webhook_id`` if it is owed and due; the delivery as claimed,
    or None when there was nothing to do."""
    settings = state.settings
    rq_job = get_current_job()
    claimed = state.deliveries.claim(
        webhook_id, lease=settings.webhook_lease, token=rq_job.id if rq_job else None
    )
    if claimed is None:
        _wake_again_if_early(state, webhook_id)
        return None
    with traced(claimed.traceparent):
        _attempt(state, claimed)
    return claimed


def _attempt(state: PDFQueueState, claimed: Delivery) -> None:
    """POST the claimed delivery once, record how it went, and queue what follows."""
    settings = state.settings
    attempted_at = state.deliveries.clock.now()
    started = time.monotonic()
    try:
        result = state.webhooks.deliver(
            claimed.url,
            claimed.webhook_id,
            claimed.payload.encode(),
            traceparent=child_traceparent(claimed.traceparent),
        )
    except JobTimeoutException:  # a receiver slower than the time limit: a timeout like any
        limit = settings.delivery_job_timeout
        result = DeliveryResult(False, None, retryable=True, error=f"cut at the {limit} s limit")
    except BaseException:  # interrupted (stop, shutdown): no answer to record, owed again
        state.deliveries.release(claimed)
        raise
    if result.finished_already and state.deliveries.had_attempt_with_error(
        claimed.webhook_id, starting=SENT_UNANSWERED
    ):
        # An earlier attempt went out whole and timed out waiting: n8n took it then (its
        # Wait node resumed, the answer came late), and now says the execution is over.
        result = dataclasses.replace(
            result,
            delivered=True,
            error=f"{result.error} (delivered: an earlier attempt was sent and not answered "
            "in time, and n8n has finished the execution since)",
        )
    entry = AttemptLog(
        attempted_at=attempted_at,
        duration_ms=round((time.monotonic() - started) * 1000),
        http_status=result.status,
        error=result.error,
    )
    wait = None
    if result.delivered:
        outcome = "delivered"
    elif not result.retryable:
        outcome = "failed"
    else:
        wait = retry_wait(
            attempts_made=claimed.round_attempts + 1,
            schedule=settings.webhook_retry_schedule,
            retry_after=result.retry_after,
        )
        outcome = "pending" if wait is not None else "failed"
    settled = state.deliveries.finish_attempt(claimed, entry, state=outcome, retry_in=wait)
    _log_attempt(claimed, outcome, result.status, result.error)
    if outcome == "delivered":
        signals.send(signals.webhook_delivered, delivery=claimed, status=result.status)
    elif outcome == "failed":
        signals.send(signals.webhook_given_up, delivery=claimed, error=result.error or "")
    if settled and wait is not None:
        dispatch(state, [dataclasses.replace(claimed, attempts=claimed.attempts + 1)], delay=wait)


def _wake_again_if_early(state: PDFQueueState, webhook_id: str) -> None:
    """RQ's scheduler woke this retry before it was due by the database's clock (its
    host's clock runs ahead): schedule it again for what is left, rather than leave it
    to the reconciler. The RQ job is a new one, as the running one cannot be queued."""
    early = state.deliveries.not_due_yet(webhook_id)
    if early is None:
        return
    delivery, wait = early
    log.info("webhook %s woken %.1f s early; scheduled again", webhook_id, wait)
    try:
        state.queue.enqueue_delivery(delivery, delay=wait, again=True)
    except RedisError as exc:
        log.warning("webhook %s not scheduled again, the reconciler will: %s", webhook_id, exc)


def _log_attempt(delivery: Delivery, outcome: str, status: int | None, error: str | None) -> None:
    owner = f"job {delivery.job_id}" if delivery.job_id else "service"
    what = f"{owner}: {delivery.event} webhook {delivery.webhook_id}"
    if outcome == "delivered":
        log.info("%s delivered (HTTP %s)", what, status)
    elif outcome == "pending":
        log.warning("%s not delivered, will retry: %s", what, error)
    else:
        log.error("%s given up: %s", what, error)
