"""One outcome and one delivery claim per job, whatever fails around them.

These drive the outcome machinery directly (attempts, notify, the worker class)
against the real servers; only the webhook sender is a stand-in where a test
needs it to fail in a way a real receiver cannot.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

import pytest
from rq import Retry

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.queueing import JOB_FUNCTION
from flask_pdfqueue.rq_worker import PDFWorker
from flask_pdfqueue.steps import notify
from flask_pdfqueue.submission import new_job_id
from flask_pdfqueue.webhooks import WebhookSender
from tests.conftest import make_app
from tests.servers import RunningServer, free_port


def _queued(state: PDFQueueState, **urls: str | None) -> str:
    job_id = new_job_id()
    state.jobs.insert_queued(
        job_id=job_id,
        code="OUT-1",
        product_id="minatBakatUmum",
        priority="normal",
        callback_url=urls.get("callback"),
        failure_callback_url=urls.get("failure"),
        metadata=None,
    )
    return job_id


class _InterruptedSender:
    """A delivery that never returns an answer, as when the job's time runs out mid-POST."""

    def deliver(self, url: str, webhook_id: str, payload: dict[str, Any]) -> Any:
        raise TimeoutError("the job ran out of time while posting")


def test_an_interrupted_delivery_leaves_the_event_owed_not_stuck(state: PDFQueueState) -> None:
    job_id = _queued(state, callback="http://127.0.0.1:9/webhook/pdf-complete")
    state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key="k")
    interrupted = dataclasses.replace(state, webhooks=cast(WebhookSender, _InterruptedSender()))
    with pytest.raises(TimeoutError):
        notify.announce(interrupted, job_id)
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.webhook_state, record.webhook_attempts) == ("pending", 0)


def test_the_event_is_claimed_by_one_caller_only(state: PDFQueueState) -> None:
    job_id = _queued(state, callback="http://127.0.0.1:9/webhook/pdf-complete")
    state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key="k")
    assert state.jobs.claim_delivery(job_id) is True
    assert state.jobs.claim_delivery(job_id) is False
    notify.announce(state, job_id)  # claimed elsewhere: nothing is sent
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.webhook_state, record.webhook_attempts) == ("sending", 0)
    state.jobs.release_delivery(job_id)
    assert state.jobs.claim_delivery(job_id) is True


def test_a_final_answer_gives_the_event_up(state: PDFQueueState) -> None:
    # A host outside the allow-list is a final answer: no later attempt can succeed.
    job_id = _queued(state, failure="http://n8n.elsewhere/webhook/pdf-failed")
    state.jobs.fail(
        job_id, status="failed", error_message="m", error_code="report_not_found", retry_count=0
    )
    notify.announce(state, job_id)
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.webhook_state, record.webhook_attempts, record.stage) == ("failed", 1, "done")


def test_the_worker_parent_survives_when_the_death_of_a_horse_cannot_be_recorded(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    broken = {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/11",
        "PDFQUEUE_SQL_URL": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none",
    }
    app = make_app(broken, tmp_path)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    queue = state.queue.queues["normal"]
    job = queue.enqueue(JOB_FUNCTION, "pdf_lost", job_id="pdf_lost", retry=Retry(max=1))
    job.meta["max_retries"] = 1
    worker = PDFWorker([queue], connection=state.redis)
    with app.app_context():
        worker.handle_job_failure(job, queue, exc_string="Work-horse terminated unexpectedly")
    assert job.get_status() in ("queued", "scheduled")  # RQ's retry still happened
    state.close()
