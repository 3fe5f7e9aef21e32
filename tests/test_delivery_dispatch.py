"""One delivery attempt at a time, against a real receiver: claim, POST, log, reschedule."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from rq.timeouts import JobTimeoutException
from sqlalchemy import update

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.jobs.delivery.dispatch import attempt_delivery
from flask_pdfqueue.jobs.delivery.replay import replay
from flask_pdfqueue.queue.queues import delivery_run_id
from flask_pdfqueue.records.sql import Delivery
from flask_pdfqueue.records.sql.delivery_rows import pdf_webhook_deliveries
from flask_pdfqueue.timestamps import utcnow
from flask_pdfqueue.webhooks.sender import WebhookSender
from tests.factories import isolated_state, processing_job
from tests.integration.helpers import callback_paths, verified
from tests.receiver import Reply, WebhookReceiver
from tests.servers import RunningServer


@pytest.fixture
def state(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[PDFQueueState]:
    yield from isolated_state(
        stack_settings,
        redis_server,
        tmp_path,
        redis_db=10,
        PDFQUEUE_WEBHOOK_RETRY_SCHEDULE="30,60",
    )


def _owed(state: PDFQueueState, receiver: WebhookReceiver) -> tuple[Delivery, str]:
    ok_path, _ = callback_paths()
    job_id = processing_job(state, callback=receiver.url_for(ok_path), metadata={"run": 7})
    owed = state.jobs.complete(
        job_id, pdf_url="http://x/p", google_drive_link=None, storage_key="k"
    )
    assert owed is not None
    return owed[0], ok_path


def test_a_delivered_event_is_logged_and_settled(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    delivery, path = _owed(state, receiver)
    assert attempt_delivery(state, delivery.webhook_id) is not None
    [hook] = receiver.requests(path)
    assert hook.headers["webhook-id"] == delivery.webhook_id
    assert hook.body == delivery.payload.encode()
    assert verified(hook, state.settings.webhook_secret)["metadata"] == {"run": 7}
    settled = state.deliveries.get(delivery.webhook_id)
    assert settled is not None
    assert (settled.state, settled.attempts, settled.last_status) == ("delivered", 1, 200)
    assert settled.delivered_at is not None
    assert attempt_delivery(state, delivery.webhook_id) is None  # nothing owed any more
    assert len(receiver.requests(path)) == 1


def test_a_retryable_answer_schedules_the_next_attempt(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    delivery, path = _owed(state, receiver)
    receiver.respond(path, 502)
    before = utcnow()
    attempt_delivery(state, delivery.webhook_id)
    pending = state.deliveries.get(delivery.webhook_id)
    assert pending is not None
    assert (pending.state, pending.attempts, pending.last_status) == ("pending", 1, 502)
    assert pending.last_error is not None and pending.last_error.startswith("HTTP 502")
    first_wait = state.settings.webhook_retry_schedule[0]
    assert pending.next_attempt_at is not None
    assert before + timedelta(seconds=first_wait * 0.79) <= pending.next_attempt_at
    assert pending.next_attempt_at <= utcnow() + timedelta(seconds=first_wait * 1.21)
    scheduled = state.queue.webhooks.scheduled_job_registry.get_job_ids()
    assert scheduled == [delivery_run_id(pending)] != [delivery_run_id(delivery)]
    assert attempt_delivery(state, delivery.webhook_id) is None  # not due yet


def test_a_final_answer_gives_up_without_scheduling(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    delivery, path = _owed(state, receiver)
    receiver.respond(path, (409, {}, b'{"message":"Execution 7 has finished already"}'))
    attempt_delivery(state, delivery.webhook_id)
    failed = state.deliveries.get(delivery.webhook_id)
    assert failed is not None
    assert (failed.state, failed.attempts, failed.last_status) == ("failed", 1, 409)
    assert "has finished already" in (failed.last_error or "")
    assert state.queue.webhooks.scheduled_job_registry.get_job_ids() == []


def test_the_schedule_used_up_is_a_failure(state: PDFQueueState, receiver: WebhookReceiver) -> None:
    delivery, path = _owed(state, receiver)
    schedule = state.settings.webhook_retry_schedule
    receiver.respond(path, *([503] * (len(schedule) + 1)))
    for _ in range(len(schedule) + 1):
        owed = state.deliveries.get(delivery.webhook_id)
        assert owed is not None and owed.state == "pending"
        _make_due(state, owed)
        attempt_delivery(state, delivery.webhook_id)
    failed = state.deliveries.get(delivery.webhook_id)
    assert failed is not None
    assert (failed.state, failed.attempts) == ("failed", len(schedule) + 1)
    assert [e.http_status for e in state.deliveries.attempts_of(delivery.webhook_id)] == [503] * (
        len(schedule) + 1
    )
    # A replay starts a fresh round: same id, same body.
    [again] = replay(state, [failed])
    assert (again.state, again.round_attempts, again.attempts) == ("pending", 0, len(schedule) + 1)
    attempt_delivery(state, delivery.webhook_id)
    hooks = receiver.requests(path)
    assert len({h.headers["webhook-id"] for h in hooks}) == 1
    assert len({h.body for h in hooks}) == 1
    assert state.deliveries.get(delivery.webhook_id).state == "delivered"  # type: ignore[union-attr]


def _make_due(state: PDFQueueState, delivery: Delivery) -> None:
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(pdf_webhook_deliveries.c.webhook_id == delivery.webhook_id)
            .values(next_attempt_at=utcnow())
        )


class _CutSender:
    """A POST that never returns an answer: ``cut`` ends it (a stop, RQ's time limit)."""

    def __init__(self, cut: BaseException) -> None:
        self.cut = cut

    def deliver(self, url: str, webhook_id: str, body: bytes, **_: Any) -> Any:
        raise self.cut


def _cut_by(state: PDFQueueState, cut: BaseException) -> PDFQueueState:
    return dataclasses.replace(state, webhooks=cast(WebhookSender, _CutSender(cut)))


def test_an_interrupted_attempt_leaves_the_event_owed(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    delivery, _ = _owed(state, receiver)
    with pytest.raises(TimeoutError):
        attempt_delivery(_cut_by(state, TimeoutError("stopped while posting")), delivery.webhook_id)
    owed = state.deliveries.get(delivery.webhook_id)
    assert owed is not None
    assert (owed.state, owed.attempts, owed.claim_token) == ("pending", 0, None)
    assert state.deliveries.attempts_of(delivery.webhook_id) == []


def test_the_stored_body_is_what_goes_out(state: PDFQueueState, receiver: WebhookReceiver) -> None:
    delivery, path = _owed(state, receiver)
    attempt_delivery(state, delivery.webhook_id)
    [hook] = receiver.requests(path)
    body = json.loads(hook.body)
    assert body["status"] == "completed"
    assert body["pdf_url"] == "http://x/p"


FINISHED: Reply = (409, {}, b'{"code":409,"message":"The execution 7 has finished already"}')


@pytest.fixture
def impatient(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[PDFQueueState]:
    """Deliveries that wait half a second for an answer."""
    yield from isolated_state(
        stack_settings,
        redis_server,
        tmp_path,
        redis_db=10,
        PDFQUEUE_WEBHOOK_RETRY_SCHEDULE="30,60",
        PDFQUEUE_WEBHOOK_TIMEOUT="0.5",
    )


def test_finished_already_after_a_sent_attempt_timed_out_is_delivered(
    impatient: PDFQueueState, receiver: WebhookReceiver
) -> None:
    # n8n took the first POST (its Wait node resumed) but answered after our timeout; the
    # retry gets n8n's final "has finished already".
    delivery, path = _owed(impatient, receiver)
    receiver.respond(path, ("delay", 2.0), FINISHED)
    attempt_delivery(impatient, delivery.webhook_id)
    pending = impatient.deliveries.get(delivery.webhook_id)
    assert pending is not None and pending.state == "pending"
    _make_due(impatient, pending)
    attempt_delivery(impatient, delivery.webhook_id)
    settled = impatient.deliveries.get(delivery.webhook_id)
    assert settled is not None
    assert (settled.state, settled.attempts, settled.last_status) == ("delivered", 2, 409)
    assert "an earlier attempt was sent" in (settled.last_error or "")
    assert settled.delivered_at is not None
    assert [e.http_status for e in impatient.deliveries.attempts_of(delivery.webhook_id)] == [
        None,
        409,
    ]
    assert len(receiver.requests(path)) == 2


def test_finished_already_with_no_attempt_sent_before_is_a_failure(
    impatient: PDFQueueState, receiver: WebhookReceiver
) -> None:
    # The first attempt never reached n8n (refused connection): its Wait timed out on its own.
    delivery, path = _owed(impatient, receiver)
    receiver.respond(path, 503, FINISHED)
    attempt_delivery(impatient, delivery.webhook_id)
    _make_due(impatient, impatient.deliveries.get(delivery.webhook_id))  # type: ignore[arg-type]
    attempt_delivery(impatient, delivery.webhook_id)
    settled = impatient.deliveries.get(delivery.webhook_id)
    assert settled is not None
    assert (settled.state, settled.last_status) == ("failed", 409)


def test_an_attempt_cut_by_the_time_limit_counts_and_is_backed_off(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    delivery, _ = _owed(state, receiver)
    # a receiver sending its answer so slowly that RQ's time limit ends the attempt
    limited = _cut_by(state, JobTimeoutException("Task exceeded maximum timeout value (90 s)"))
    before = utcnow()
    attempt_delivery(limited, delivery.webhook_id)
    pending = state.deliveries.get(delivery.webhook_id)
    assert pending is not None
    assert (pending.state, pending.attempts, pending.claim_token) == ("pending", 1, None)
    assert pending.last_error == f"cut at the {state.settings.delivery_job_timeout} s limit"
    first_wait = state.settings.webhook_retry_schedule[0]
    assert pending.next_attempt_at is not None
    assert pending.next_attempt_at >= before + timedelta(seconds=first_wait * 0.79)
    assert state.queue.webhooks.scheduled_job_registry.get_job_ids() == [delivery_run_id(pending)]


def test_a_new_event_is_due_at_once_whatever_the_clock_that_owed_it(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    # Owed by a render worker whose clock is a minute ahead of this one.
    delivery, path = _owed(state, receiver)
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(pdf_webhook_deliveries.c.webhook_id == delivery.webhook_id)
            .values(next_attempt_at=utcnow() + timedelta(minutes=1))
        )
    assert attempt_delivery(state, delivery.webhook_id) is not None
    assert len(receiver.requests(path)) == 1
    assert state.deliveries.get(delivery.webhook_id).state == "delivered"  # type: ignore[union-attr]


def test_a_retry_woken_early_is_scheduled_again_for_what_is_left(
    state: PDFQueueState, receiver: WebhookReceiver
) -> None:
    # RQ's scheduler ran on a host whose clock is ahead: it woke the retry 40 s early.
    delivery, path = _owed(state, receiver)
    due = state.deliveries.clock.now() + timedelta(seconds=40)
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(pdf_webhook_deliveries.c.webhook_id == delivery.webhook_id)
            .values(round_attempts=1, attempts=1, next_attempt_at=due)
        )
    assert attempt_delivery(state, delivery.webhook_id) is None
    assert receiver.requests(path) == []
    [again] = state.queue.webhooks.scheduled_job_registry.get_job_ids()
    assert again.startswith(f"{delivery.webhook_id.replace('.', '_')}-1-")
    wakes_at = state.queue.webhooks.scheduled_job_registry.get_scheduled_time(again)
    left = (wakes_at - utcnow()).total_seconds()
    assert 35 < left <= 41  # (rounded up to the whole second RQ keeps)
    assert state.deliveries.get(delivery.webhook_id).state == "pending"  # type: ignore[union-attr]
