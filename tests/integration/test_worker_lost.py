"""A work horse killed mid-job: retried while retries are left, else one recorded failure."""

from __future__ import annotations

import os
import signal
import time

import pytest
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.conftest import RETRIES, WorkerProcess
from tests.integration.helpers import (
    assert_one_webhook,
    callback_paths,
    pdf_generation,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def slow_report(state: PDFQueueState) -> dict[str, object]:
    """A report with hundreds of scales: several seconds of rendering, time to kill the horse."""
    document = sample_documents()[0]
    document["code"] = f"SLOW-{time.monotonic_ns()}"
    first = document["results"]
    document["results"] = [
        {**first[i % len(first)], "scale": f"s{i}", "name": f"Scale {i}"} for i in range(400)
    ]
    state.documents.collection.insert_one(dict(document))
    return document


def kill_while_rendering(
    state: PDFQueueState, worker: WorkerProcess, job_id: str, *, retries_made: int = 0
) -> None:
    """Wait until a work horse renders the job after ``retries_made`` retries, then SIGKILL
    the horse."""

    def rendering() -> bool:
        row = sql_row(state, job_id)
        return bool(row["stage"] == "rendering" and row["retry_count"] == retries_made)

    wait_until(rendering, timeout=60)
    horse = worker.horse_pid()
    assert horse is not None
    os.kill(horse, signal.SIGKILL)


def test_killed_horse_on_every_attempt_fails_the_job_once(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    document = slow_report(state)
    ok_path, failed_path = callback_paths()
    job_id = submit_report(client, auth, document, callback=receiver.url_for(ok_path))["job_id"]
    for retries_made in range(RETRIES + 1):
        kill_while_rendering(state, worker, job_id, retries_made=retries_made)

    [hook] = receiver.wait_for(failed_path, timeout=60)
    payload = verified(hook, state.settings.webhook_secret)
    assert payload["job_id"] == job_id
    assert payload["status"] == "failed"
    assert payload["error_code"] == "worker_lost"
    assert "signal 9" in payload["error"]
    assert payload["retryable"] is True
    assert payload["retry_count"] == RETRIES
    row = sql_row(state, job_id)
    assert (row["status"], row["error_code"], row["retry_count"]) == (
        "failed",
        "worker_lost",
        RETRIES,
    )
    generation = pdf_generation(state, str(document["code"]))
    assert (generation["status"], generation["job_id"]) == ("failed", job_id)
    assert generation["retry_count"] == RETRIES
    assert_one_webhook(receiver, failed_path, ok_path)


def test_killed_horse_with_retries_left_is_retried_and_succeeds_once(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    document = slow_report(state)
    ok_path, failed_path = callback_paths()
    job_id = submit_report(client, auth, document, callback=receiver.url_for(ok_path))["job_id"]
    # The retry renders an ordinary report, so it finishes quickly.
    wait_until(lambda: sql_row(state, job_id)["stage"] == "rendering", timeout=60)
    state.documents.collection.update_one(
        {"code": document["code"]}, {"$set": {"results": sample_documents()[0]["results"]}}
    )
    kill_while_rendering(state, worker, job_id)

    [hook] = receiver.wait_for(ok_path, timeout=60)
    payload = verified(hook, state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    row = sql_row(state, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    generation = pdf_generation(state, str(document["code"]))
    assert (generation["status"], generation["retry_count"]) == ("completed", 1)
    assert_one_webhook(receiver, ok_path, failed_path)
