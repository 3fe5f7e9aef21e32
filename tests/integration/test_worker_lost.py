"""A work horse killed mid-job: retried while retries are left, else one recorded failure."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from flask import Flask

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.demo import demo_documents
from tests.conftest import API_KEY, WorkerProcess, make_app
from tests.integration.helpers import (
    assert_one_webhook,
    callback_paths,
    pdf_generation,
    sql_row,
    verified,
    wait_until,
)
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def slow_report(state: PDFQueueState) -> dict[str, object]:
    """A report with hundreds of scales: several seconds of rendering, time to kill the horse."""
    document = demo_documents()[0]
    document["code"] = f"SLOW-{time.monotonic_ns()}"
    first = document["results"]
    document["results"] = [
        {**first[i % len(first)], "scale": f"s{i}", "name": f"Scale {i}"} for i in range(400)
    ]
    state.documents.collection.insert_one(dict(document))
    return document


def submit_and_wait_for_rendering(app: Flask, document: dict[str, object], callback: str) -> str:
    """Submit the report and return its job id once a work horse is rendering it."""
    response = app.test_client().post(
        "/api/reports/generate-async",
        json={"code": document["code"], "productId": document["product_id"], "callback": callback},
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 202
    job_id: str = response.get_json()["job_id"]
    state: PDFQueueState = app.extensions["pdfqueue"]
    wait_until(lambda: sql_row(state, job_id)["stage"] == "rendering", timeout=60)
    return job_id


def test_killed_horse_on_the_last_attempt_fails_the_job_once(
    stack_settings: dict[str, str],
    tmp_path: Path,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    # An app sharing the stack but enqueueing without retries: this attempt is the last.
    app = make_app({**stack_settings, "PDFQUEUE_RETRY_ATTEMPTS": "0"}, tmp_path)
    state: PDFQueueState = app.extensions["pdfqueue"]
    document = slow_report(state)
    ok_path, failed_path = callback_paths()
    job_id = submit_and_wait_for_rendering(app, document, receiver.url_for(ok_path))
    horse = worker.horse_pid()
    assert horse is not None
    os.kill(horse, signal.SIGKILL)

    [hook] = receiver.wait_for(failed_path, timeout=60)
    payload = verified(hook, state.settings.webhook_secret)
    assert payload["job_id"] == job_id
    assert payload["status"] == "failed"
    assert payload["error_code"] == "worker_lost"
    assert payload["retryable"] is True
    assert payload["retry_count"] == 0
    row = sql_row(state, job_id)
    assert (row["status"], row["error_code"]) == ("failed", "worker_lost")
    generation = pdf_generation(state, str(document["code"]))
    assert (generation["status"], generation["job_id"]) == ("failed", job_id)

    assert_one_webhook(receiver, failed_path, ok_path)
    state.close()


def test_killed_horse_with_retries_left_is_retried_and_succeeds_once(
    stack_settings: dict[str, str],
    tmp_path: Path,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    app = make_app(
        {**stack_settings, "PDFQUEUE_RETRY_ATTEMPTS": "1", "PDFQUEUE_RETRY_INTERVALS": "1"},
        tmp_path,
    )
    state: PDFQueueState = app.extensions["pdfqueue"]
    document = slow_report(state)
    ok_path, failed_path = callback_paths()
    job_id = submit_and_wait_for_rendering(app, document, receiver.url_for(ok_path))
    horse = worker.horse_pid()
    assert horse is not None
    # The retry renders an ordinary report, so it finishes quickly.
    state.documents.collection.update_one(
        {"code": document["code"]}, {"$set": {"results": demo_documents()[0]["results"]}}
    )
    os.kill(horse, signal.SIGKILL)

    [hook] = receiver.wait_for(ok_path, timeout=60)
    payload = verified(hook, state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    row = sql_row(state, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    generation = pdf_generation(state, str(document["code"]))
    assert (generation["status"], generation["retry_count"]) == ("completed", 1)
    assert_one_webhook(receiver, ok_path, failed_path)
    state.close()
