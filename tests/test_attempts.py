"""What a failed run means for its job: one retry counted in SQL, or the job's end.

Against the real servers, on an isolated app (no session worker sees its jobs):
the runs are settled the way RQ's callbacks and the worker's kill handler settle
them, and the outcome is read back from SQL, MongoDB and Redis.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.timeouts import JobTimeoutException

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.errors import (
    DependencyUnavailable,
    ReportNotFound,
    StorageError,
    StorageQuota,
    TemplateError,
)
from flask_pdfqueue.jobs.attempts import classify, settle_failed_run
from flask_pdfqueue.queue.queues import DELIVERY_FUNCTION, run_id
from flask_pdfqueue.rq_jobs import on_horse_killed, on_run_failed, on_run_stopped
from tests.conftest import RETRIES, make_app
from tests.factories import isolated_state, processing_job
from tests.servers import RunningServer, free_port


@pytest.fixture
def state(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[PDFQueueState]:
    yield from isolated_state(stack_settings, redis_server, tmp_path, redis_db=12)


def _generation(state: PDFQueueState) -> dict[str, Any]:
    document = state.documents.collection.find_one(
        {"code": "DEMO-001", "product_id": "minatBakatUmum"}
    )
    assert document is not None
    generation: dict[str, Any] = document["pdf_generation"]
    return generation


def _delivery_jobs(state: PDFQueueState) -> list[Job]:
    return [job for job in state.queue.webhooks.get_jobs() if job.func_name == DELIVERY_FUNCTION]


def test_a_retryable_failure_counts_one_retry_and_schedules_the_next_run(
    state: PDFQueueState,
) -> None:
    job_id = processing_job(state)
    settle_failed_run(state, job_id, job_id, StorageError("could not store the PDF"))

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.stage, record.retry_count) == ("queued", "queued", 1)
    assert (record.error_code, record.error_message) == ("storage_error", "could not store the PDF")
    assert record.rq_job_id == run_id(job_id, 2)
    scheduled = state.queue.queues["normal"].scheduled_job_registry
    assert scheduled.get_job_ids() == [run_id(job_id, 2)]
    assert state.queue.holds(run_id(job_id, 2))
    assert state.deliveries.for_job(job_id) == []  # nothing is announced before the end
    generation = _generation(state)
    assert (generation["job_id"], generation["status"], generation["retry_count"]) == (
        job_id,
        "queued",
        1,
    )


def test_the_same_run_reported_twice_is_settled_once(state: PDFQueueState) -> None:
    job_id = processing_job(state)
    failure = StorageError("disk full")
    settle_failed_run(state, job_id, job_id, failure)
    settle_failed_run(state, job_id, job_id, failure)  # e.g. a callback, then the reconciler
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.retry_count, record.rq_job_id) == (1, run_id(job_id, 2))


def test_a_run_that_is_no_longer_current_settles_nothing(state: PDFQueueState) -> None:
    job_id = processing_job(state)
    settle_failed_run(state, job_id, "someone-else", StorageError("x"))
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.rq_job_id) == ("processing", 0, job_id)


@pytest.mark.parametrize(
    "failure",
    [ReportNotFound("no report document DEMO-001"), TemplateError("the template needs results")],
)
def test_a_failure_retrying_cannot_fix_ends_the_job_at_once(
    state: PDFQueueState, failure: Any
) -> None:
    job_id = processing_job(state, metadata={"execution": "42"})
    settle_failed_run(state, job_id, job_id, failure)

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.error_code) == (
        "failed",
        0,
        failure.error_code,
    )
    [delivery] = state.deliveries.for_job(job_id)
    assert (delivery.event, delivery.state) == ("failed", "pending")
    assert delivery.url == "http://127.0.0.1:9/webhook/pdf-failed"
    payload = json.loads(delivery.payload)
    assert payload["status"] == "failed"
    assert payload["error_code"] == failure.error_code
    assert payload["retryable"] is False
    assert payload["retry_count"] == 0
    assert payload["metadata"] == {"execution": "42"}
    assert [job.args for job in _delivery_jobs(state)] == [(delivery.webhook_id,)]
    generation = _generation(state)
    assert (generation["status"], generation["error_message"]) == ("failed", failure.message)
    assert not record.mirror_pending  # MongoDB took the outcome


def test_the_last_retry_ends_the_job_with_the_retries_made(state: PDFQueueState) -> None:
    job_id = processing_job(state)
    run = job_id
    for made in range(RETRIES):
        settle_failed_run(state, job_id, run, StorageError("disk full"))
        run = run_id(job_id, made + 2)
        assert state.jobs.start_attempt(job_id, run)
    settle_failed_run(state, job_id, run, StorageError("disk full"))
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count) == ("failed", RETRIES)
    [delivery] = state.deliveries.for_job(job_id)
    assert json.loads(delivery.payload)["retry_count"] == RETRIES
    assert json.loads(delivery.payload)["retryable"] is True


def test_a_job_without_callbacks_ends_without_deliveries(state: PDFQueueState) -> None:
    job_id = processing_job(state, callback=None, failure_callback=None)
    settle_failed_run(state, job_id, job_id, ReportNotFound("gone"))
    assert state.jobs.get(job_id).status == "failed"  # type: ignore[union-attr]
    assert state.deliveries.for_job(job_id) == []
    assert _delivery_jobs(state) == []


def test_rq_callbacks_settle_the_run_they_report(state: PDFQueueState) -> None:
    stopped, abandoned, killed, raised = (
        processing_job(state, code=f"DEMO-00{n}") for n in range(1, 5)
    )
    queue = state.queue.queues["normal"]
    for job_id in (stopped, abandoned, killed, raised):
        queue.enqueue("flask_pdfqueue.rq_jobs.generate_pdf_job", job_id, job_id=job_id)

    on_run_stopped(Job.fetch(stopped, connection=state.redis), state.redis)
    on_run_failed(
        Job.fetch(abandoned, connection=state.redis),
        state.redis,
        AbandonedJobError,
        AbandonedJobError(),
        None,
    )
    on_horse_killed(Job.fetch(killed, connection=state.redis), 4242, signal.SIGKILL, None)
    timeout = JobTimeoutException("Task exceeded maximum timeout value (60 seconds)")
    on_run_failed(
        Job.fetch(raised, connection=state.redis), state.redis, type(timeout), timeout, None
    )

    cancelled = state.jobs.get(stopped)
    assert cancelled is not None
    assert (cancelled.status, cancelled.error_code) == ("cancelled", "cancelled")
    [delivery] = state.deliveries.for_job(stopped)
    assert json.loads(delivery.payload)["status"] == "cancelled"
    for job_id, code in (
        (abandoned, "worker_lost"),
        (killed, "worker_lost"),
        (raised, "render_timeout"),
    ):
        record = state.jobs.get(job_id)
        assert record is not None
        assert (record.status, record.retry_count, record.error_code) == ("queued", 1, code)
    assert "signal 9" in (state.jobs.get(killed).error_message or "")  # type: ignore[union-attr]


def test_classify_names_every_kind_of_failure() -> None:
    from pymongo.errors import OperationFailure, ServerSelectionTimeoutError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert classify(ReportNotFound("x"), 60).error_code == "report_not_found"
    assert (
        classify(JobTimeoutException("t"), 60).message
        == "the job took longer than its 60 s timeout"
    )
    assert classify(AbandonedJobError(), 60).error_code == "worker_lost"
    # A dependency that does not answer is an outage, and says which.
    for exc, dependency in (
        (ServerSelectionTimeoutError("m"), "mongo"),
        (OperationalError("s", {}, Exception()), "sql"),
        (StorageError("could not store the PDF (ENOSPC)"), "storage"),
    ):
        outage = classify(exc, 60)
        assert isinstance(outage, DependencyUnavailable)
        assert (outage.error_code, outage.dependency) == ("dependency_unavailable", dependency)
    assert classify(ServerSelectionTimeoutError("m"), 60).message == "MongoDB did not answer"
    # Answering with an error is no outage; a storage that refuses for good neither.
    assert classify(OperationFailure("auth"), 60).error_code == "service_unavailable"
    assert classify(IntegrityError("s", {}, Exception()), 60).error_code == "service_unavailable"
    assert classify(StorageQuota("full"), 60).error_code == "storage_quota"
    assert classify(RedisConnectionError("r"), 60).message == "Redis did not answer"
    unexpected = classify(KeyError("/srv/secret/path"), 60)
    assert (unexpected.error_code, unexpected.message) == (
        "internal_error",
        "unexpected error: KeyError",
    )


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
    job = state.queue.enqueue("pdf_lost", "normal")
    with app.app_context():
        on_horse_killed(job, 4242, signal.SIGKILL, None)  # logs, does not raise
    assert job.get_status() == "queued"
    state.close()


def test_a_horse_reaped_elsewhere_still_settles_its_run(state: PDFQueueState) -> None:
    # RQ passes no pid and no status when the horse was already reaped (a warm shutdown
    # killed it): the run is settled, and the worker parent does not crash.
    job_id = processing_job(state)
    state.queue.queues["normal"].enqueue(
        "flask_pdfqueue.rq_jobs.generate_pdf_job", job_id, job_id=job_id
    )
    on_horse_killed(Job.fetch(job_id, connection=state.redis), None, None, None)
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.error_code) == ("queued", 1, "worker_lost")
    assert "already collected" in (record.error_message or "")
