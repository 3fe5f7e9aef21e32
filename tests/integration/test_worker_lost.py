"""A work horse killed mid-job on its last attempt still ends in one recorded, announced outcome."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.demo import demo_documents
from tests.conftest import API_KEY, WorkerProcess, make_app
from tests.integration.test_job_flow import callback_paths, sql_row, verified, wait_until
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
    response = app.test_client().post(
        "/api/reports/generate-async",
        json={
            "code": document["code"],
            "productId": document["product_id"],
            "callback": receiver.url_for(ok_path),
        },
        headers={"X-API-Key": API_KEY},
    )
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]

    wait_until(lambda: sql_row(state, job_id)["stage"] == "rendering", timeout=60)
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
    generation = state.documents.collection.find_one({"code": document["code"]})["pdf_generation"]
    assert (generation["status"], generation["job_id"]) == ("failed", job_id)

    time.sleep(1.5)
    assert len(receiver.requests(failed_path)) == 1
    assert receiver.requests(ok_path) == []
    state.close()
