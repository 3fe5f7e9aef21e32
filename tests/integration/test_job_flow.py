"""Submit → worker → PDF, records and one signed webhook, on the real servers.

Everything here is real: Redis, the MongoDB-wire server, SQLite, a worker process
started with ``flask pdfqueue worker``, WeasyPrint, and an HTTP receiver.
"""

from __future__ import annotations

import io
import re
import uuid

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader

from flask_pdfqueue import PDFQueueState
from tests.conftest import WorkerProcess
from tests.factories import queued_job
from tests.integration.helpers import (
    FAILURE_FIELDS,
    ISO_Z,
    SUCCESS_FIELDS,
    assert_one_webhook,
    callback_paths,
    new_report,
    pdf_generation,
    settled,
    sql_row,
    submit,
    submit_report,
    verified,
)
from tests.receiver import WebhookReceiver

pytestmark = pytest.mark.integration


def test_report_is_rendered_stored_recorded_and_announced_once(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    document = new_report(state)
    ok_path, failed_path = callback_paths()
    accepted = submit_report(
        client,
        auth,
        document,
        callback=receiver.url_for(ok_path),
        metadata={"execution": "n8n-42"},
    )
    assert accepted["status"] == "queued"
    assert isinstance(accepted["position_in_queue"], int)
    assert ISO_Z.match(accepted["estimated_completion"])
    assert accepted["status_url"] == f"http://pdfqueue.test/api/jobs/{accepted['job_id']}"

    [hook] = receiver.wait_for(ok_path, timeout=60)
    payload = verified(hook, state.settings.webhook_secret)
    assert set(payload) == SUCCESS_FIELDS | {"metadata"}
    assert payload["job_id"] == accepted["job_id"]
    assert payload["status"] == "completed"
    assert payload["google_drive_link"] is None
    assert payload["pdf_url"] == f"http://pdfqueue.test/api/jobs/{accepted['job_id']}/download"
    assert ISO_Z.match(payload["completed_at"])
    assert (payload["code"], payload["productId"]) == (document["code"], "minatBakatUmum")
    assert payload["metadata"] == {"execution": "n8n-42"}
    assert hook.headers["user-agent"].startswith("flask-pdfqueue/")

    job_id = accepted["job_id"]
    settled(state, job_id)
    status = client.get(f"/api/jobs/{job_id}", headers=auth).get_json()
    assert status["status"] == "completed"
    assert (status["stage"], status["progress"]) == ("done", 100)
    assert status["retry_count"] == 0
    assert status["webhook"] == {"state": "delivered", "attempts": 1, "last_status": 200}
    [delivery] = status["webhooks"]
    assert delivery["webhook_id"] == hook.headers["webhook-id"]
    assert delivery["webhook_id"].startswith("msg_")
    assert delivery["url"] == receiver.url_for(ok_path)
    assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == (
        "delivered",
        1,
        None,
    )

    download = client.get(f"/api/jobs/{job_id}/download", headers=auth)
    assert download.status_code == 200
    assert download.mimetype == "application/pdf"
    assert "attachment" in download.headers["Content-Disposition"]
    assert download.data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(download.data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert document["participant"]["name"] in text
    for result in document["results"]:
        assert result["name"] in text
        assert re.search(rf"\b{result['score']}\b", text)
    assert len(reader.pages) >= 2
    assert f"of {len(reader.pages)}" in text

    generation = pdf_generation(state, document["code"])
    assert generation["status"] == "completed"
    assert generation["job_id"] == job_id
    assert generation["pdf_url"] == payload["pdf_url"]
    assert generation["retry_count"] == 0

    row = sql_row(state, job_id)
    assert row["status"] == "completed"
    assert row["completed_at"] is not None
    assert row["code"] == document["code"]

    assert_one_webhook(receiver, ok_path, failed_path)


def test_unknown_report_fails_at_once_without_retries(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    ok_path, failed_path = callback_paths()
    code = f"MISSING-{uuid.uuid4().hex[:8]}"
    accepted = submit(
        client, auth, code=code, productId="minatBakatUmum", callback=receiver.url_for(ok_path)
    )
    [hook] = receiver.wait_for(failed_path, timeout=90)
    payload = verified(hook, state.settings.webhook_secret)
    assert set(payload) == FAILURE_FIELDS
    assert payload["job_id"] == accepted["job_id"]
    assert payload["status"] == "failed"
    assert payload["error_code"] == "report_not_found"
    assert code in payload["error"]
    assert payload["retryable"] is False
    assert payload["retry_count"] == 0  # retrying cannot make the report appear
    assert ISO_Z.match(payload["failed_at"])

    row = sql_row(state, accepted["job_id"])
    assert row["status"] == "failed"
    assert row["retry_count"] == 0
    assert row["error_code"] == "report_not_found"
    status = client.get(f"/api/jobs/{accepted['job_id']}", headers=auth).get_json()
    assert status["status"] == "failed"
    assert status["error_code"] == "report_not_found"
    download = client.get(f"/api/jobs/{accepted['job_id']}/download", headers=auth)
    assert download.status_code == 409
    assert download.get_json()["error"]["code"] == "not_ready"
    # No report document exists, and none was invented to hold the failure.
    assert state.documents.collection.count_documents({"code": code}) == 0

    assert_one_webhook(receiver, failed_path, ok_path, settle=2.5)  # > a retry interval


def test_report_that_does_not_fit_the_template_is_recorded_failed_in_mongo(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    document = new_report(state, results="not a list of scales")
    ok_path, failed_path = callback_paths()
    accepted = submit_report(
        client,
        auth,
        document,
        callback=receiver.url_for(ok_path),
    )
    [hook] = receiver.wait_for(failed_path, timeout=90)
    payload = verified(hook, state.settings.webhook_secret)
    assert payload["error_code"] == "template_error"
    assert payload["retry_count"] == 0

    generation = pdf_generation(state, document["code"])
    assert generation["status"] == "failed"
    assert generation["job_id"] == accepted["job_id"]
    assert generation["retry_count"] == 0
    assert generation["error_message"] == payload["error"]
    assert sql_row(state, accepted["job_id"])["status"] == "failed"


def test_a_webhook_answered_503_is_retried_with_the_same_id_and_body_until_delivered(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    ok_path, failed_path = callback_paths()
    receiver.respond(failed_path, 503, (429, {"Retry-After": "1"}, b"slow down"))
    code = f"MISSING-{uuid.uuid4().hex[:8]}"
    accepted = submit(
        client, auth, code=code, productId="minatBakatUmum", callback=receiver.url_for(ok_path)
    )
    hooks = receiver.wait_for(failed_path, count=3, timeout=90)
    settled(state, accepted["job_id"])
    assert len({hook.headers["webhook-id"] for hook in hooks}) == 1
    assert len({hook.body for hook in hooks}) == 1
    for hook in hooks:
        assert verified(hook, state.settings.webhook_secret)["job_id"] == accepted["job_id"]

    [delivery] = state.deliveries.for_job(accepted["job_id"])
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 3, 200)
    log = state.deliveries.attempts_of(delivery.webhook_id)
    assert [entry.http_status for entry in log] == [503, 429, 200]
    assert log[0].error is not None and log[0].error.startswith("HTTP 503")
    assert all(entry.duration_ms >= 0 for entry in log)
    assert receiver.requests(ok_path) == []


def test_a_run_an_older_version_queued_still_completes(
    state: PDFQueueState, receiver: WebhookReceiver, worker: WorkerProcess
) -> None:
    """Before runs carried no arguments, the job id was the argument, under the job
    function's former path: such a run, found in Redis after an upgrade, still runs."""
    document = new_report(state)
    ok_path, _ = callback_paths()
    job_id = queued_job(state, code=document["code"], callback=receiver.url_for(ok_path))
    state.queue.queues["normal"].enqueue(
        "workers.pdf_worker.generate_pdf_job", job_id, job_id=job_id, job_timeout=120
    )

    [hook] = receiver.wait_for(ok_path, timeout=60)
    payload = verified(hook, state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    assert sql_row(state, job_id)["status"] == "completed"
