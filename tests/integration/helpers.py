"""What the integration tests share: fresh reports, callback paths, checks on outcomes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from standardwebhooks import Webhook

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.records.sql import pdf_job_results
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.procfs import proc_stat
from tests.receiver import Received, WebhookReceiver

SUCCESS_FIELDS = {
    "job_id",
    "status",
    "google_drive_link",
    "pdf_url",
    "completed_at",
    "code",
    "productId",
}
FAILURE_FIELDS = {
    "job_id",
    "status",
    "error",
    "error_code",
    "retryable",
    "failed_at",
    "retry_count",
    "code",
    "productId",
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def new_report(state: PDFQueueState, **changes: Any) -> dict[str, Any]:
    """A fresh report document (a demo one under a new code) so tests never share one."""
    document = sample_documents()[0]
    document["code"] = f"IT-{uuid.uuid4().hex[:10]}"
    document.update(changes)
    state.documents.collection.insert_one(dict(document))
    return document


def callback_paths() -> tuple[str, str]:
    base = f"/hooks/{uuid.uuid4().hex[:8]}/webhook"
    return f"{base}/pdf-complete", f"{base}/pdf-failed"


def submit(client: FlaskClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/reports/generate-async", json=body, headers=auth)
    assert response.status_code == 202, response.get_json()
    data: dict[str, Any] = response.get_json()
    return data


def submit_report(
    client: FlaskClient, auth: dict[str, str], document: Mapping[str, Any], **body: Any
) -> dict[str, Any]:
    """Submit ``document``'s report (its code and product id) with the other fields of
    ``body``; the 202 answer."""
    return submit(client, auth, code=document["code"], productId=document["product_id"], **body)


def wait_until(predicate: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def verified(received: Received, secret: str) -> Any:
    """The payload, after checking its Standard Webhooks signature with the reference library."""
    return Webhook(secret).verify(received.body, received.headers)


def sql_row(state: PDFQueueState, job_id: str) -> dict[str, Any]:
    with state.jobs.engine.connect() as conn:
        row = conn.execute(select(pdf_job_results).where(pdf_job_results.c.job_id == job_id)).one()
    return dict(row._mapping)


def pdf_generation(state: PDFQueueState, code: str) -> dict[str, Any]:
    """The ``pdf_generation`` field of the report document with ``code``."""
    document = state.documents.collection.find_one({"code": code})
    assert document is not None, f"no report document {code}"
    generation: dict[str, Any] = document["pdf_generation"]
    return generation


def settled(state: PDFQueueState, job_id: str, timeout: float = 60) -> None:
    """Wait until the job is finished and none of its webhooks is still owed."""

    def done() -> bool:
        record = state.jobs.get(job_id)
        owed = any(d.is_owed for d in state.deliveries.for_job(job_id))
        return record is not None and record.is_terminal and not owed

    wait_until(done, timeout)


def assert_one_webhook(
    receiver: WebhookReceiver, path: str, silent_path: str, *, settle: float = 1.5
) -> None:
    """Exactly one POST arrived on ``path`` and none on ``silent_path``, even after a wait in
    which a duplicate or a late retry would have shown up."""
    time.sleep(settle)
    assert len(receiver.requests(path)) == 1
    assert receiver.requests(silent_path) == []


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    stat = proc_stat(pid)
    return stat is not None and stat.state != "Z"
