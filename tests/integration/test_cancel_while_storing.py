"""A job cancelled while its PDF is being stored: cancelled, announced once, no file left."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rq.job import Job, JobStatus

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.errors import Cancelled
from flask_pdfqueue.jobs.attempts import finish_failed
from tests.conftest import (
    isolated_worker_env,
    make_isolated_app,
    start_worker_process,
    stop_worker_process,
)
from tests.integration.helpers import (
    assert_one_webhook,
    callback_paths,
    new_report,
    pdf_generation,
    settled,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.plugins.gated_storage import GATE, arrived
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class GatedStack:
    state: PDFQueueState
    client: FlaskClient
    pdfs: Path


@pytest.fixture
def gated(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[GatedStack]:
    settings = {
        **stack_settings,
        "PDFQUEUE_STORAGE": "tests.plugins.gated_storage:make",
        "PDFQUEUE_STORAGE_DIR": str(tmp_path / "pdfs"),
    }
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=8)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(settings, state)
    worker = start_worker_process(state, env, tmp_path / "worker.log")
    deliveries = start_worker_process(state, env, tmp_path / "delivery.log", "delivery-worker")
    try:
        yield GatedStack(state, app.test_client(), tmp_path / "pdfs")
    finally:
        (tmp_path / "pdfs" / GATE).touch()
        stop_worker_process(worker)
        stop_worker_process(deliveries)
        state.close()


@pytest.mark.parametrize("stop_arrives", [True, False], ids=["stopped", "stop-lost"])
def test_a_cancel_while_the_pdf_is_stored_leaves_no_pdf_and_one_event(
    gated: GatedStack, auth: dict[str, str], receiver: WebhookReceiver, stop_arrives: bool
) -> None:
    state = gated.state
    document = new_report(state)
    ok_path, failed_path = callback_paths()
    job_id = submit_report(gated.client, auth, document, callback=receiver.url_for(ok_path))[
        "job_id"
    ]
    wait_until(lambda: arrived(gated.pdfs, job_id), timeout=90)

    if stop_arrives:  # the cancel endpoint: recorded, then RQ's stop command ends the run
        cancelled = gated.client.delete(f"/api/jobs/{job_id}", headers=auth)
        assert (cancelled.status_code, cancelled.get_json()["status"]) == (200, "cancelled")
    else:  # recorded, but the stop command (Redis pub/sub) never reached the worker
        with gated.client.application.app_context():
            assert finish_failed(state, job_id, Cancelled("cancelled"), status="cancelled")
    (gated.pdfs / GATE).touch()  # the upload finishes after the cancel, if it still runs

    settled(state, job_id)
    [hook] = receiver.wait_for(failed_path, timeout=30)
    payload = verified(hook, state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "cancelled")
    assert_one_webhook(receiver, failed_path, ok_path)
    row = sql_row(state, job_id)
    assert (row["status"], row["error_code"], row["pdf_url"]) == ("cancelled", "cancelled", None)
    # The run went on to the end (or was stopped): either way no PDF is left behind.
    wait_until(lambda: _run_over(state, job_id), timeout=30)
    assert list(gated.pdfs.glob("*.pdf")) == []
    assert pdf_generation(state, document["code"])["status"] == "cancelled"
    assert gated.client.get(f"/api/jobs/{job_id}/download", headers=auth).status_code == 409


def _run_over(state: PDFQueueState, job_id: str) -> bool:
    """RQ is done with the job's run (finished, failed or stopped)."""
    status = Job.fetch(job_id, connection=state.redis).get_status()
    return status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED)
