"""The job process's courier: first attempts on its thread, the rest to the delivery queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.jobs.delivery import courier
from flask_pdfqueue.jobs.delivery.courier import BACKLOG, Courier
from flask_pdfqueue.jobs.steps.notify import announce
from flask_pdfqueue.queue.queues import delivery_run_id
from flask_pdfqueue.records.sql import Delivery
from tests.factories import isolated_app, processing_job, state_of
from tests.integration.helpers import callback_paths, verified, wait_until
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer


@pytest.fixture
def app_state(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[tuple[Flask, PDFQueueState]]:
    for app in isolated_app(stack_settings, redis_server, tmp_path, redis_db=9):
        try:
            yield app, state_of(app)
        finally:
            ours = courier.installed()
            if ours is not None:  # its thread ends
                ours.close(1)
            courier.install(None)


def _owed(state: PDFQueueState, receiver: WebhookReceiver, count: int = 1) -> list[Delivery]:
    owed = []
    for _ in range(count):
        job_id = processing_job(state, callback=receiver.url_for(callback_paths()[0]))
        done = state.jobs.complete(
            job_id, pdf_url="http://x/p", google_drive_link=None, storage_key="k"
        )
        assert done is not None
        owed += done
    return owed


def _queued(state: PDFQueueState) -> set[str]:
    """The delivery jobs waiting on the webhook queue."""
    return set(state.queue.webhooks.get_job_ids())


class _Held:
    """An attempt that waits until released, noting what it was given."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.given: list[str] = []

    def __call__(self, state: PDFQueueState, webhook_id: str) -> None:
        self.given.append(webhook_id)
        self.release.wait(10)


def test_an_announced_event_is_delivered_by_the_courier_and_never_queued(
    app_state: tuple[Flask, PDFQueueState], receiver: WebhookReceiver
) -> None:
    app, state = app_state
    [delivery] = _owed(state, receiver)
    courier.install(Courier(state, app))

    announce(state, [delivery])

    [hook] = receiver.wait_for(delivery.url.removeprefix(receiver.url), timeout=10)
    assert verified(hook, state.settings.webhook_secret)["job_id"] == delivery.job_id
    assert hook.headers["webhook-id"] == delivery.webhook_id
    wait_until(lambda: state.deliveries.get(delivery.webhook_id).state == "delivered")  # type: ignore[union-attr]
    assert _queued(state) == set()


def test_without_a_courier_an_announced_event_gets_a_delivery_job(
    app_state: tuple[Flask, PDFQueueState], receiver: WebhookReceiver
) -> None:
    _, state = app_state
    [delivery] = _owed(state, receiver)

    announce(state, [delivery])

    assert _queued(state) == {delivery_run_id(delivery)}
    time.sleep(0.3)
    # nobody attempts it here: the delivery worker will
    assert receiver.requests(delivery.url.removeprefix(receiver.url)) == []


def test_what_a_busy_courier_cannot_take_goes_to_the_delivery_queue(
    app_state: tuple[Flask, PDFQueueState], receiver: WebhookReceiver
) -> None:
    app, state = app_state
    owed = _owed(state, receiver, BACKLOG + 2)
    held = _Held()
    post = Courier(state, app, attempt=held)
    try:
        post.hand_over(owed)
        wait_until(lambda: len(held.given) == 1)
        assert _queued(state) == {delivery_run_id(d) for d in owed[BACKLOG:]}
        held.release.set()
        wait_until(lambda: len(held.given) == BACKLOG)  # the rest, one after another
    finally:
        held.release.set()
        post.close(5)
    assert held.given == [d.webhook_id for d in owed[:BACKLOG]]


def test_closing_queues_what_waits_and_gives_the_attempt_under_way_a_moment(
    app_state: tuple[Flask, PDFQueueState], receiver: WebhookReceiver
) -> None:
    app, state = app_state
    first, *waiting = _owed(state, receiver, 3)
    held = _Held()
    post = Courier(state, app, attempt=held)
    post.hand_over([first, *waiting])
    wait_until(lambda: held.given == [first.webhook_id])

    started = time.monotonic()
    post.close(0.5)
    took = time.monotonic() - started

    assert 0.5 <= took < 3
    assert _queued(state) == {delivery_run_id(d) for d in waiting}
    late = _owed(state, receiver)
    post.hand_over(late)  # closed: straight to the queue
    assert delivery_run_id(late[0]) in _queued(state)
    held.release.set()
    assert held.given == [first.webhook_id]


def test_a_first_attempt_that_raises_goes_to_the_delivery_queue(
    app_state: tuple[Flask, PDFQueueState], receiver: WebhookReceiver
) -> None:
    app, state = app_state
    [delivery] = _owed(state, receiver)

    def unreachable_sql(state: PDFQueueState, webhook_id: str) -> None:
        raise RuntimeError("the claim was not answered")

    post = Courier(state, app, attempt=unreachable_sql)
    post.hand_over([delivery])
    wait_until(lambda: bool(_queued(state)))
    post.close(1)

    [queued] = _queued(state)
    assert Job.fetch(queued, connection=state.redis).args == (delivery.webhook_id,)
