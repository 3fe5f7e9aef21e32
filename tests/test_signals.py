"""The host app's signals fire once per transition, with the job as recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_pdfqueue import PDFQueueState, signals
from flask_pdfqueue.jobs.cancellation import cancel
from flask_pdfqueue.jobs.delivery.dispatch import attempt_delivery
from flask_pdfqueue.jobs.steps import record
from flask_pdfqueue.reports.rendering import RenderedPDF
from flask_pdfqueue.storage import StoredPDF
from tests.conftest import make_isolated_app
from tests.factories import queued_job
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

SIGNALS = [
    signals.job_accepted,
    signals.job_started,
    signals.job_completed,
    signals.job_failed,
    signals.job_cancelled,
    signals.webhook_delivered,
    signals.webhook_given_up,
]


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=15)
    with app.app_context():
        yield app
    app.extensions["pdfqueue"].close()


@pytest.fixture
def heard(app: Flask) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every signal the app sends, in order, with its arguments."""
    got: list[tuple[str, dict[str, Any]]] = []

    def receivers() -> Iterator[Any]:
        for signal in SIGNALS:

            def receiver(sender: Flask, _name: str = signal.name, **kwargs: Any) -> None:
                assert sender is app
                got.append((_name.removeprefix("pdfqueue-"), kwargs))

            signal.connect(receiver, sender=app)
            yield signal, receiver

    connected = list(receivers())
    yield got
    for signal, receiver in connected:
        signal.disconnect(receiver, sender=app)


def test_a_job_sends_accepted_started_and_its_outcome_once(
    app: Flask, heard: list[tuple[str, dict[str, Any]]], auth: dict[str, str]
) -> None:
    state: PDFQueueState = app.extensions["pdfqueue"]
    client = app.test_client()
    body = {"code": "DEMO-001", "productId": "minatBakatUmum"}
    job_id = client.post("/api/reports/generate-async", json=body, headers=auth).get_json()[
        "job_id"
    ]
    client.post("/api/reports/generate-async", json=body, headers=auth)  # joins it
    current = state.jobs.get(job_id)
    assert current is not None
    assert record.record_started(state, current, job_id)
    rendered = RenderedPDF(b"%PDF-1.7")
    assert record.record_completed(state, current, StoredPDF(f"{job_id}.pdf"), rendered) is not None
    assert record.record_completed(state, current, StoredPDF("again"), rendered) is None  # lost

    names = [name for name, _ in heard]
    assert names == ["job-accepted", "job-accepted", "job-started", "job-completed"]
    assert [kwargs["deduplicated"] for name, kwargs in heard[:2]] == [False, True]
    assert heard[2][1]["run"] == job_id
    completed = heard[3][1]["job"]
    assert (completed.job_id, completed.status, completed.storage_key) == (
        job_id,
        "completed",
        f"{job_id}.pdf",
    )


def test_failure_and_cancellation_have_signals_of_their_own(
    app: Flask, heard: list[tuple[str, dict[str, Any]]]
) -> None:
    state: PDFQueueState = app.extensions["pdfqueue"]
    failed = queued_job(state, code="DEMO-002")
    record.record_failed(
        state, failed, status="failed", error_message="gone", error_code="report_not_found"
    )
    cancelled = queued_job(state, code="DEMO-003")
    job = state.jobs.get(cancelled)
    assert job is not None
    cancel(state, job)
    assert [(name, kwargs["job"].job_id) for name, kwargs in heard] == [
        ("job-failed", failed),
        ("job-cancelled", cancelled),
    ]


def test_webhook_signals_say_delivered_or_given_up(
    app: Flask, heard: list[tuple[str, dict[str, Any]]], receiver: WebhookReceiver
) -> None:
    state: PDFQueueState = app.extensions["pdfqueue"]
    receiver.respond("/signals/gone/pdf-failed", 410)
    for code, path in (("DEMO-004", "/signals/ok"), ("DEMO-005", "/signals/gone")):
        job_id = queued_job(
            state,
            code=code,
            callback=receiver.url_for(f"{path}/pdf-complete"),
            failure_callback=receiver.url_for(f"{path}/pdf-failed"),
        )
        owed = record.record_failed(
            state, job_id, status="failed", error_message="x", error_code="template_error"
        )
        assert owed is not None
        attempt_delivery(state, owed[0].webhook_id)
    webhook = [(name, kwargs) for name, kwargs in heard if name.startswith("webhook")]
    assert [name for name, _ in webhook] == ["webhook-delivered", "webhook-given-up"]
    assert webhook[0][1]["status"] == 200
    assert webhook[1][1]["error"].startswith("HTTP 410")


def test_a_receiver_that_raises_never_fails_the_transition(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    state: PDFQueueState = app.extensions["pdfqueue"]

    def broken(sender: Flask, **kwargs: Any) -> None:
        raise RuntimeError("the host app's receiver is broken")

    signals.job_failed.connect(broken, sender=app)
    try:
        job_id = queued_job(state, code="DEMO-006")
        owed = record.record_failed(
            state, job_id, status="failed", error_message="x", error_code="template_error"
        )
    finally:
        signals.job_failed.disconnect(broken, sender=app)
    assert owed is not None
    assert state.jobs.get(job_id).status == "failed"  # type: ignore[union-attr]
    assert "a receiver of pdfqueue-job-failed raised" in caplog.text
