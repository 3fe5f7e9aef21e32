"""Cancel and the legacy synchronous endpoint, against the real worker processes."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader
from rq.job import Job, JobStatus

from flask_pdfqueue import PDFQueueState
from tests.conftest import WorkerProcess, make_app
from tests.integration.helpers import (
    assert_one_webhook,
    callback_paths,
    new_report,
    settled,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.integration.test_worker_lost import slow_report
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.integration
LEGACY = "/api/reports/generate"


def test_cancelling_a_running_job_stops_it_and_stores_nothing(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    document = slow_report(state)
    ok_path, failed_path = callback_paths()
    accepted = submit_report(
        client,
        auth,
        document,
        callback=receiver.url_for(ok_path),
    )
    job_id = accepted["job_id"]
    wait_until(lambda: sql_row(state, job_id)["stage"] == "rendering", timeout=60)

    response = client.delete(f"/api/jobs/{job_id}", headers=auth)

    assert response.status_code == 200
    assert (response.get_json()["status"], response.get_json()["error_code"]) == (
        "cancelled",
        "cancelled",
    )
    [hook] = receiver.wait_for(failed_path, timeout=30)
    payload = verified(hook, state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"], payload["error_code"]) == (
        job_id,
        "cancelled",
        "cancelled",
    )
    wait_until(lambda: Job.fetch(job_id, connection=state.redis).get_status() == JobStatus.STOPPED)
    settled(state, job_id)
    row = sql_row(state, job_id)
    assert (row["status"], row["error_code"], row["storage_key"]) == (
        "cancelled",
        "cancelled",
        None,
    )
    assert not (Path(state.settings.resolved_storage_dir) / f"{job_id}.pdf").exists()
    assert_one_webhook(receiver, failed_path, ok_path)


def test_the_legacy_call_answers_with_the_finished_job(
    client: FlaskClient, auth: dict[str, str], state: PDFQueueState, worker: WorkerProcess
) -> None:
    document = new_report(state)
    body = {"code": document["code"], "productId": document["product_id"]}
    response = client.post(LEGACY, json=body, headers=auth)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["status"] == "completed" and answer["google_drive_link"] is None
    assert answer["pdf_url"].endswith(f"/api/jobs/{answer['job_id']}/download")
    assert sql_row(state, answer["job_id"])["priority"] == "high"  # legacy calls go first

    other = new_report(state)
    pdf = client.post(
        LEGACY,
        json={"code": other["code"], "productId": other["product_id"]},
        headers={**auth, "Accept": "application/pdf"},
    )
    assert (pdf.status_code, pdf.mimetype) == (200, "application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert other["participant"]["name"] in text


def test_the_legacy_call_reports_a_failure_with_its_job(
    client: FlaskClient, auth: dict[str, str], state: PDFQueueState, worker: WorkerProcess
) -> None:
    code = f"MISSING-{uuid.uuid4().hex[:8]}"
    response = client.post(LEGACY, json={"code": code, "productId": "x"}, headers=auth)
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"]["code"] == "report_not_found"
    assert code in body["error"]["message"]
    assert sql_row(state, body["job_id"])["status"] == "failed"


def test_a_legacy_call_that_runs_out_of_time_gets_the_async_answer_and_the_webhook(
    stack_settings: dict[str, str],
    tmp_path: Path,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    impatient = make_app({**stack_settings, "PDFQUEUE_SYNC_TIMEOUT": "1"}, tmp_path)
    document = slow_report(state)
    ok_path, failed_path = callback_paths()
    response = impatient.test_client().post(
        LEGACY,
        json={
            "code": document["code"],
            "productId": document["product_id"],
            "callback": receiver.url_for(ok_path),
        },
        headers=auth,
    )
    assert response.status_code == 202
    accepted = response.get_json()
    assert accepted["status"] == "queued"
    assert response.headers["Location"] == accepted["status_url"]
    [hook] = receiver.wait_for(ok_path, timeout=90)
    assert verified(hook, state.settings.webhook_secret)["job_id"] == accepted["job_id"]
    assert_one_webhook(receiver, ok_path, failed_path)
    impatient.extensions["pdfqueue"].close()
