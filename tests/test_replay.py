"""Replaying webhook events: the API endpoint and ``flask pdfqueue replay-webhooks``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.cli import pdfqueue_cli
from flask_pdfqueue.jobs.delivery.dispatch import attempt_delivery
from flask_pdfqueue.queue.queues import delivery_run_id
from tests.conftest import API_KEY
from tests.factories import isolated_app, processing_job, queued_job, state_of
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

AUTH = {"X-API-Key": API_KEY}


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    yield from isolated_app(
        stack_settings,
        redis_server,
        tmp_path,
        redis_db=8,
        PDFQUEUE_WEBHOOK_RETRY_SCHEDULE="60",
    )


def _delivered_job(state: PDFQueueState, receiver: WebhookReceiver, path: str) -> str:
    job_id = processing_job(state, callback=receiver.url_for(path))
    [owed] = state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key="k") or []
    attempt_delivery(state, owed.webhook_id)
    return job_id


def test_replay_sends_the_same_event_again(app: Flask, receiver: WebhookReceiver) -> None:
    state = state_of(app)
    path = "/replay/api/pdf-complete"
    job_id = _delivered_job(state, receiver, path)

    response = app.test_client().post(f"/api/webhooks/{job_id}/replay", headers=AUTH)

    assert response.status_code == 202
    body = response.get_json()
    [delivery] = state.deliveries.for_job(job_id)
    assert body == {"job_id": job_id, "replayed": [delivery.webhook_id], "in_flight": []}
    assert delivery.state == "pending"
    assert state.queue.webhooks.get_job_ids() == [delivery_run_id(delivery)]
    attempt_delivery(state, delivery.webhook_id)  # what the delivery worker does next
    first, second = receiver.requests(path)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.webhook_id
    assert first.body == second.body
    assert state.deliveries.get(delivery.webhook_id).attempts == 2  # type: ignore[union-attr]


def test_replay_errors_say_why(app: Flask) -> None:
    state = state_of(app)
    client = app.test_client()
    unknown = client.post("/api/webhooks/pdf_nope/replay", headers=AUTH)
    assert (unknown.status_code, unknown.get_json()["error"]["code"]) == (404, "job_not_found")
    running = queued_job(state)
    busy = client.post(f"/api/webhooks/{running}/replay", headers=AUTH)
    assert (busy.status_code, busy.get_json()["error"]["code"]) == (409, "not_finished")
    silent = processing_job(state, code="DEMO-002", callback=None, failure_callback=None)
    state.jobs.complete(silent, pdf_url="u", google_drive_link=None, storage_key="k")
    none = client.post(f"/api/webhooks/{silent}/replay", headers=AUTH)
    assert (none.status_code, none.get_json()["error"]["code"]) == (409, "no_webhooks")
    assert client.post(f"/api/webhooks/{silent}/replay").status_code == 401


def test_the_cli_replays_failed_deliveries_selected_by_state_and_age(
    app: Flask, receiver: WebhookReceiver
) -> None:
    state = state_of(app)
    gone_path, ok_path = "/replay/cli/gone/pdf-complete", "/replay/cli/ok/pdf-complete"
    receiver.respond(gone_path, 410)
    gone = _delivered_job(state, receiver, gone_path)  # 410: failed for good
    _delivered_job(state, receiver, ok_path)
    [failed] = state.deliveries.for_job(gone)
    assert failed.state == "failed"
    runner = app.test_cli_runner()

    dry = runner.invoke(pdfqueue_cli, ["replay-webhooks", "--since", "1h", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert failed.webhook_id in dry.output and "1 event(s) would be sent again" in dry.output
    assert state.deliveries.get(failed.webhook_id).state == "failed"  # type: ignore[union-attr]

    none = runner.invoke(pdfqueue_cli, ["replay-webhooks", "--since", "2999-01-01T00:00:00Z"])
    assert "0 event(s) queued" in none.output

    done = runner.invoke(pdfqueue_cli, ["replay-webhooks", "--job", gone, "--state", "failed"])
    assert done.exit_code == 0, done.output
    assert "1 event(s) queued for delivery" in done.output
    assert state.deliveries.get(failed.webhook_id).state == "pending"  # type: ignore[union-attr]

    bad = runner.invoke(pdfqueue_cli, ["replay-webhooks", "--since", "yesterday"])
    assert bad.exit_code != 0 and "ISO 8601" in bad.output


def test_the_cli_runs_a_reconciler_round(app: Flask) -> None:
    result = app.test_cli_runner().invoke(pdfqueue_cli, ["reconcile"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("jobs queued again: 0, lost runs settled: 0")
