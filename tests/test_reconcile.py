"""The reconciler against the real servers: what Redis lost comes back, once.

Each test builds the state a crash leaves behind (a run Redis no longer has, a
claim whose process died, a mirror MongoDB never got), runs one round, and reads
the outcome back.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pymongo.errors import WriteError
from rq import Callback, Queue
from rq.job import Job, JobStatus
from sqlalchemy import update

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.errors import DependencyUnavailable
from flask_pdfqueue.jobs.attempts import settle_reported_run
from flask_pdfqueue.jobs.outages import CUT_RUN_KEY, report_up
from flask_pdfqueue.jobs.reconcile import (
    BACKOFF_FIRST,
    BACKOFF_KEY,
    LEASE_KEY,
    LEASE_SECONDS,
    LOCK_KEY,
    MISSING_KEY,
    VISIBILITY_WINDOW,
    reconcile,
    reconcile_if_due,
)
from flask_pdfqueue.queue.queues import JOB_FUNCTION, JobQueue, delivery_run_id, run_id
from flask_pdfqueue.records.mongo import ReportDocuments
from flask_pdfqueue.records.sql import JobStore, make_engine, pdf_job_results
from flask_pdfqueue.records.sql.delivery_rows import pdf_webhook_deliveries
from flask_pdfqueue.records.sql.idempotency import pdf_idempotency_keys
from flask_pdfqueue.timestamps import utcnow
from flask_pdfqueue.worker.classes import InProcessWorker
from tests.conftest import RETRIES
from tests.factories import isolated_state, make_idle, processing_job, queued_job
from tests.servers import RunningServer, free_port


@pytest.fixture
def state(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[PDFQueueState]:
    yield from isolated_state(stack_settings, redis_server, tmp_path, redis_db=13)


class _FailingFor(JobQueue):
    """The queue, failing on one run for a reason of that run's own."""

    failing_run = ""

    def holds(self, rq_job_id: str) -> bool:
        if rq_job_id == self.failing_run:
            raise ValueError(f"cannot read run {rq_job_id}")
        return super().holds(rq_job_id)


def test_a_job_row_that_fails_waits_with_backoff_and_the_others_are_dealt_with(
    state: PDFQueueState,
) -> None:
    poisoned = queued_job(state, enqueue=False, code="DEMO-001")
    fine = queued_job(state, enqueue=False, code="DEMO-002")
    for job_id in (poisoned, fine):
        make_idle(state, job_id)
    queue = _FailingFor(state.redis, state.settings)
    queue.failing_run = poisoned
    flaky = dataclasses.replace(state, queue=queue)
    report = reconcile(flaky)
    assert (report.jobs_requeued, report.rows_backed_off) == (1, 1)
    assert state.queue.holds(fine) and not state.queue.holds(poisoned)
    assert reconcile(flaky).rows_backed_off == 0  # it waits its minute
    assert 50 < state.redis.ttl(BACKOFF_KEY.format(row=f"job:{poisoned}")) <= 60
    state.redis.delete(BACKOFF_KEY.format(row=f"job:{poisoned}"))
    assert reconcile(state).jobs_requeued == 1  # fixed: taken at last
    assert state.queue.holds(poisoned)


def test_a_queued_job_redis_lost_is_queued_again_without_counting_a_retry(
    state: PDFQueueState,
) -> None:
    job_id = queued_job(state, enqueue=True)
    state.redis.flushdb()  # Redis restarted empty
    make_idle(state, job_id)

    report = reconcile(state)

    assert report.jobs_requeued == 1
    assert state.queue.holds(job_id)
    assert state.queue.queues["normal"].get_job_ids() == [job_id]
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.rq_job_id) == ("queued", 0, job_id)
    assert reconcile(state).jobs_requeued == 0  # touched just now: in someone's hands


def test_a_run_is_lost_only_once_it_stays_missing_for_the_visibility_window(
    state: PDFQueueState,
) -> None:
    job_id = queued_job(state, enqueue=True)
    make_idle(state, job_id)  # idle in SQL; its run is in the queue
    # A worker polling several queues takes the run (BLPOP: it is in no list now) ...
    taken = Queue.dequeue_any(state.queue.ordered, None, connection=state.redis)
    assert taken is not None and taken[0].id == job_id
    assert not state.queue.holds(job_id)
    # ... and this round sees it missing for the first time: it is left to that worker.
    assert reconcile(state).jobs_requeued == 0
    assert state.queue.queues["normal"].get_job_ids() == []
    # The worker died before starting it: missing still, once the window has passed.
    first_seen = float(state.redis.get(MISSING_KEY.format(run=job_id)) or 0)
    window = VISIBILITY_WINDOW.total_seconds()
    state.redis.set(MISSING_KEY.format(run=job_id), first_seen - window)
    assert reconcile(state).jobs_requeued == 1
    assert state.queue.queues["normal"].get_job_ids() == [job_id]
    assert state.redis.get(MISSING_KEY.format(run=job_id)) is None  # dealt with


def test_a_job_still_in_redis_is_left_alone(state: PDFQueueState) -> None:
    job_id = queued_job(state, enqueue=True)
    make_idle(state, job_id)
    report = reconcile(state)
    assert (report.jobs_requeued, report.runs_lost) == (0, 0)
    assert state.queue.queues["normal"].get_job_ids() == [job_id]


def test_a_job_whose_submit_died_before_queuing_it_is_queued(state: PDFQueueState) -> None:
    """Its row holds the report's dedupe key: left alone, the next submits would join a job
    that never runs."""
    job_id = queued_job(state, enqueue=False)
    make_idle(state, job_id)
    assert reconcile(state).jobs_requeued == 1
    assert state.queue.holds(job_id)


def test_a_lost_run_is_retried_while_retries_remain(state: PDFQueueState) -> None:
    job_id = processing_job(state)  # its worker parent died and Redis forgot the run
    make_idle(state, job_id)

    assert reconcile(state).runs_lost == 1

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.error_code) == ("queued", 1, "worker_lost")
    assert state.queue.holds(run_id(job_id, 2))


def test_a_run_an_sql_outage_cut_unrecorded_runs_again_without_counting_a_retry(
    state: PDFQueueState,
) -> None:
    job_id = processing_job(state)
    run = job_id
    dead_url = f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/db"
    dead_sql = JobStore(make_engine(dead_url), state.jobs.event_body)
    # RQ reports the run failed (its stage update found SQL gone); SQL cannot take that
    settle_reported_run(
        dataclasses.replace(state, jobs=dead_sql),
        job_id,
        run,
        DependencyUnavailable("sql", "the SQL database did not answer"),
    )
    report_up(state.redis, "sql")
    make_idle(state, job_id)  # SQL is back; the reconciler finds the run lost

    assert reconcile(state).runs_lost == 1

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.error_code) == (
        "queued",
        0,
        "dependency_unavailable",
    )
    assert record.error_message == "waiting: the SQL database did not answer"
    assert record.rq_job_id is not None and state.queue.holds(record.rq_job_id)
    assert state.redis.get(CUT_RUN_KEY.format(run=run)) is None  # dealt with


def test_a_lost_run_on_the_last_attempt_fails_the_job_and_announces_it(
    state: PDFQueueState,
) -> None:
    job_id = processing_job(state)
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_job_results)
            .where(pdf_job_results.c.job_id == job_id)
            .values(retry_count=RETRIES)
        )
    make_idle(state, job_id)

    reconcile(state)

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.error_code, record.retry_count) == (
        "failed",
        "worker_lost",
        RETRIES,
    )
    [delivery] = state.deliveries.for_job(job_id)
    assert json.loads(delivery.payload)["error_code"] == "worker_lost"
    assert state.queue.holds(delivery_run_id(delivery))


def _finished_with_owed_delivery(state: PDFQueueState) -> str:
    job_id = processing_job(state)
    owed = state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key="k")
    assert owed is not None and len(owed) == 1
    return owed[0].webhook_id


def test_an_owed_delivery_with_no_delivery_job_is_queued(state: PDFQueueState) -> None:
    webhook_id = _finished_with_owed_delivery(state)  # Redis never got its job
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(pdf_webhook_deliveries.c.webhook_id == webhook_id)
            .values(next_attempt_at=utcnow() - timedelta(minutes=5))
        )

    report = reconcile(state)

    assert report.deliveries_queued == 1
    delivery = state.deliveries.get(webhook_id)
    assert delivery is not None
    assert state.queue.webhooks.get_job_ids() == [delivery_run_id(delivery)]
    assert reconcile(state).deliveries_queued == 0  # it has a delivery job now


def test_a_claim_whose_process_died_is_released_and_queued(state: PDFQueueState) -> None:
    webhook_id = _finished_with_owed_delivery(state)
    claimed = state.deliveries.claim(webhook_id, lease=state.settings.webhook_lease)
    assert claimed is not None
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(pdf_webhook_deliveries.c.webhook_id == webhook_id)
            .values(claimed_at=utcnow() - state.settings.webhook_lease - timedelta(seconds=1))
        )

    report = reconcile(state)

    assert report.claims_released == 1
    delivery = state.deliveries.get(webhook_id)
    assert delivery is not None
    assert (delivery.state, delivery.claim_token, delivery.attempts) == ("pending", None, 0)
    assert state.queue.holds(delivery_run_id(delivery))


def test_a_live_claim_is_left_to_its_attempt(state: PDFQueueState) -> None:
    webhook_id = _finished_with_owed_delivery(state)
    assert state.deliveries.claim(webhook_id, lease=state.settings.webhook_lease)
    assert reconcile(state).claims_released == 0
    assert state.deliveries.get(webhook_id).state == "sending"  # type: ignore[union-attr]


def test_a_report_document_that_missed_the_outcome_gets_it(state: PDFQueueState) -> None:
    job_id = processing_job(state)
    state.jobs.complete(job_id, pdf_url="http://x/pdf", google_drive_link=None, storage_key="k")
    make_idle(state, job_id)  # MongoDB was down when the job finished
    record = state.jobs.get(job_id)
    assert record is not None and record.mirror_pending

    assert reconcile(state).mirrors_written == 1

    document = state.documents.collection.find_one(
        {"code": "DEMO-001", "product_id": "minatBakatUmum"}
    )
    assert document is not None
    generation = document["pdf_generation"]
    assert (generation["job_id"], generation["status"], generation["pdf_url"]) == (
        job_id,
        "completed",
        "http://x/pdf",
    )
    assert not state.jobs.get(job_id).mirror_pending  # type: ignore[union-attr]


def test_one_round_per_interval_across_workers(state: PDFQueueState) -> None:
    assert reconcile_if_due(state, "worker-a") is not None
    assert reconcile_if_due(state, "worker-b") is None
    ttl = state.redis.ttl(LOCK_KEY)
    assert 0 < ttl <= state.settings.reconcile_interval


def test_a_round_still_running_keeps_the_next_one_out_and_only_its_holder_frees_it(
    state: PDFQueueState,
) -> None:
    state.redis.set(LEASE_KEY, "worker-a:token", ex=LEASE_SECONDS)  # a slow round, elsewhere
    assert reconcile_if_due(state, "worker-b") is None
    assert not state.redis.exists(LOCK_KEY)  # its interval did not even start
    state.redis.delete(LEASE_KEY)
    assert reconcile_if_due(state, "worker-b") is not None
    assert not state.redis.exists(LEASE_KEY)  # released at the end of its round


def test_a_round_stops_at_its_budget_and_leaves_the_rest_for_the_next(
    state: PDFQueueState,
) -> None:
    lost = [queued_job(state, code=f"DEMO-00{n}") for n in range(1, 4)]
    for job_id in lost:
        make_idle(state, job_id)
    assert reconcile(state, budget=0).jobs_requeued == 0  # spent before the first row
    assert reconcile(state).jobs_requeued == 3


def _completed_lagging(state: PDFQueueState) -> list[str]:
    """Three completed jobs, idle, whose report documents have not taken the outcome yet."""
    lagging = []
    for n in range(1, 4):
        job_id = processing_job(state, code=f"DEMO-00{n}")
        state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key="k")
        make_idle(state, job_id)
        lagging.append(job_id)
    return lagging


def test_mirrors_stop_at_the_first_document_mongodb_does_not_take(
    state: PDFQueueState,
) -> None:
    lagging = _completed_lagging(state)
    gone = ReportDocuments(
        f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        database="workflow",
        collection="psikotes_v2",
        timeout_ms=300,
    )
    started = time.monotonic()
    report = reconcile(dataclasses.replace(state, documents=gone))
    assert time.monotonic() - started < 8  # one mirror's timeout and one probe, not one each
    assert report.mirrors_written == 0
    assert all(state.jobs.get(j).mirror_pending for j in lagging)  # type: ignore[union-attr]
    assert reconcile(state).mirrors_written == 3  # MongoDB back: all of them


class _RefusingOne(ReportDocuments):
    """MongoDB, answering, but refusing the write of one report's document (a validator,
    a document at the size limit)."""

    refused_code = ""
    tries = 0

    def set_pdf_generation(self, code: str, product_id: str, **kwargs: Any) -> bool:
        if code == self.refused_code:
            type(self).tries += 1
            raise WriteError("Document failed validation", code=121)
        return super().set_pdf_generation(code, product_id, **kwargs)


def test_a_document_mongodb_refuses_waits_with_backoff_and_the_others_go_on(
    state: PDFQueueState,
) -> None:
    lagging = _completed_lagging(state)
    settings = state.settings
    refusing = _RefusingOne(
        settings.mongo_url, database=settings.mongo_db, collection=settings.mongo_collection
    )
    _RefusingOne.refused_code = "DEMO-001"
    picky = dataclasses.replace(state, documents=refusing)
    report = reconcile(picky)
    assert (report.mirrors_written, report.rows_backed_off) == (2, 1)
    assert [state.jobs.get(j).mirror_pending for j in lagging] == [True, False, False]  # type: ignore[union-attr]
    assert reconcile(picky).rows_backed_off == 0  # it waits: not tried again at once
    assert _RefusingOne.tries == 1
    backoff = BACKOFF_KEY.format(row=f"mirror:{lagging[0]}")
    assert 50 < state.redis.ttl(backoff) <= BACKOFF_FIRST.total_seconds()
    state.redis.delete(backoff)  # its minute is over
    assert reconcile(picky).rows_backed_off == 1
    assert 110 < state.redis.ttl(backoff) <= 2 * BACKOFF_FIRST.total_seconds()  # doubled
    state.redis.delete(backoff)
    assert reconcile(state).mirrors_written == 1  # taken at last
    refusing.client.close()


def test_idempotency_answers_older_than_a_day_are_forgotten(state: PDFQueueState) -> None:
    assert state.idempotency.reserve("client", "old", "hash") is None
    state.idempotency.answer("client", "old", 202, {"job_id": "pdf_1"})
    assert state.idempotency.reserve("client", "new", "hash") is None
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_idempotency_keys)
            .where(pdf_idempotency_keys.c.idempotency_key == "old")
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    assert reconcile(state).idempotency_keys_forgotten == 1
    assert state.idempotency.reserve("client", "old", "other") is None  # free again
    held = state.idempotency.reserve("client", "new", "hash")
    assert held is not None and held.status_code is None  # still being answered


def test_a_failed_run_queued_under_the_former_callback_names_still_ends_once(
    state: PDFQueueState,
) -> None:
    """Runs queued before the callbacks moved to ``rq_jobs`` name them in
    ``flask_pdfqueue.attempts``. When such a run fails RQ cannot import its callback, so
    nothing judges the failure in the worker: the reconciler settles the run."""
    job_id = queued_job(state, code="NOT-IN-MONGODB")
    state.queue.queues["normal"].enqueue(
        JOB_FUNCTION,
        job_id=job_id,
        job_timeout=60,
        on_failure=Callback("flask_pdfqueue.attempts.on_run_failed"),
        on_stopped=Callback("flask_pdfqueue.attempts.on_run_stopped"),
    )
    InProcessWorker(state.queue.ordered, connection=state.redis).work(burst=True)
    assert Job.fetch(job_id, connection=state.redis).get_status() == JobStatus.FAILED
    unjudged = state.jobs.get(job_id)
    assert unjudged is not None and unjudged.status == "processing"
    assert state.deliveries.for_job(job_id) == []

    make_idle(state, job_id)
    assert reconcile(state).runs_lost == 1
    retried = state.jobs.get(job_id)
    assert retried is not None
    assert (retried.status, retried.retry_count, retried.rq_job_id) == (
        "queued",
        1,
        run_id(job_id, 2),
    )
    deadline = time.monotonic() + 10
    while (done := state.jobs.get(job_id)) is not None and not done.is_terminal:
        assert time.monotonic() < deadline, "the retried run never ran"
        time.sleep(0.5)  # its retry delay, after which a worker's scheduler queues it
        InProcessWorker(state.queue.ordered, connection=state.redis).work(
            burst=True, with_scheduler=True
        )
    assert done is not None
    assert (done.status, done.error_code) == ("failed", "report_not_found")
    [delivery] = state.deliveries.for_job(job_id)
    assert json.loads(delivery.payload)["status"] == "failed"
    make_idle(state, job_id)
    assert reconcile(state).runs_lost == 0  # ended: nothing more to settle
    assert len(state.deliveries.for_job(job_id)) == 1
