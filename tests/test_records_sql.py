"""The SQL records (jobs, subscribers, webhook outbox) against real SQLite, PostgreSQL
and MariaDB databases.

The conditional transitions are the point: only the current run starts or steers a
job, whichever run finishes first owns the terminal outcome, and that same
transaction owes the job's webhook events, one per subscriber, each claimed by one
attempt at a time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from sqlalchemy import DateTime, Engine, make_url, text
from sqlalchemy.exc import IntegrityError

import flask_pdfqueue.records.sql.deliveries as deliveries_module
from flask_pdfqueue.queue.queues import delivery_run_id
from flask_pdfqueue.records.sql import (
    AttemptLog,
    Delivery,
    DeliveryStore,
    JobRecord,
    JobStore,
    Subscriber,
    SubscriberRequest,
    make_engine,
    metadata,
    pdf_job_results,
)
from flask_pdfqueue.records.sql.clock import DatabaseClock
from flask_pdfqueue.records.sql.subscribers import add_subscriber, subscribers_of
from flask_pdfqueue.webhooks.events import InlinePDF, event_body

T = TypeVar("T")

NOW = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
METADATA: dict[str, Any] = {
    "candidate": "Zoë Ñandú 🙂",
    "scores": [1, 2.5, None],
    "nested": {"ok": True, "日本": "語"},
}
DONE_URL = "https://n8n.test/webhook-waiting/41?signature=c0ffee"
FAILED_URL = "https://n8n.test/webhook/pdf-failed"
LEASE = timedelta(minutes=5)


class Clock:
    """Stands in for the stores' database clock: exact timestamps,
    microseconds included."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float = 1) -> datetime:
        """Move on by ``seconds`` and one microsecond (so no two instants look alike)."""
        self.now += timedelta(seconds=seconds, microseconds=1)
        return self.now

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(DatabaseClock, "now", lambda self: clock())
    return clock


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    engine = make_engine(sql_url)
    metadata.create_all(engine)
    try:
        yield engine
    finally:
        metadata.drop_all(engine)
        engine.dispose()


@pytest.fixture
def jobs(engine: Engine) -> JobStore:
    return JobStore(engine, event_body)


@pytest.fixture
def deliveries(engine: Engine) -> DeliveryStore:
    return DeliveryStore(engine)


def _seconds_until(due: datetime, clock: Clock) -> float:
    return (due - clock.now).total_seconds()


def _subscriber(
    callback_url: str | None = DONE_URL,
    failure_callback_url: str | None = FAILED_URL,
    metadata: dict[str, Any] | None = None,
) -> SubscriberRequest:
    return SubscriberRequest(callback_url, failure_callback_url, metadata)


def _queue(
    jobs: JobStore, job_id: str = "job-1", subscriber: SubscriberRequest | None = None
) -> JobRecord:
    return jobs.insert_queued(
        job_id=job_id,
        code="PSI-001" if job_id == "job-1" else f"PSI-{job_id}",  # one report per job
        product_id="prod-9",
        priority="high",
        subscriber=subscriber,
    )


def _get(jobs: JobStore, job_id: str = "job-1") -> JobRecord:
    record = jobs.get(job_id)
    assert record is not None
    return record


def _subscribers(engine: Engine, job_id: str = "job-1") -> list[Subscriber]:
    with engine.connect() as conn:
        return subscribers_of(conn, job_id)


def _join(engine: Engine, request: SubscriberRequest, job_id: str = "job-1") -> None:
    """What a later submit for the same report does: one more subscriber."""
    with engine.begin() as conn:
        add_subscriber(conn, job_id, request, NOW)


def _complete(jobs: JobStore, job_id: str = "job-1", n: int = 1) -> list[Delivery] | None:
    return jobs.complete(
        job_id,
        pdf_url=f"https://pdfqueue.test/api/jobs/{job_id}/download",
        google_drive_link=f"https://drive.test/file/{n}",
        storage_key=f"reports/{job_id}-{n}.pdf",
    )


def _session_in_another_time_zone(url: str) -> dict[str, Any]:
    """Engine options that put each connection's session time zone at UTC-5."""
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        return {"connect_args": {"options": "-c timezone=America/New_York"}}
    if backend in ("mysql", "mariadb"):
        return {"connect_args": {"init_command": "SET time_zone = '-05:00'"}}
    return {}  # SQLite has no session time zone


# --- jobs: insert, read, delete ---------------------------------------------------------


def test_insert_queued_round_trips_every_field(
    engine: Engine, jobs: JobStore, clock: Clock
) -> None:
    inserted = _queue(jobs, subscriber=_subscriber(metadata=METADATA))
    expected = JobRecord(
        job_id="job-1",
        code="PSI-001",
        product_id="prod-9",
        status="queued",
        stage="queued",
        priority="high",
        created_at=NOW,
        updated_at=NOW,
        retry_count=0,
        rq_job_id="job-1",
        enqueued_at=NOW,  # promised to the queue from the start
    )
    assert inserted == expected
    assert _get(jobs) == expected
    assert _get(jobs).created_at.utcoffset() == timedelta(0)
    assert not inserted.is_terminal
    assert not inserted.mirror_pending

    [subscriber] = _subscribers(engine)
    assert subscriber == Subscriber(
        id=subscriber.id,
        job_id="job-1",
        callback_url=DONE_URL,
        failure_callback_url=FAILED_URL,
        metadata=METADATA,
        created_at=NOW,
    )


def test_insert_queued_without_subscriber_or_metadata(
    engine: Engine, jobs: JobStore, clock: Clock
) -> None:
    _queue(jobs, "alone")
    assert _subscribers(engine, "alone") == []
    _queue(jobs, "quiet", subscriber=_subscriber(None, FAILED_URL))
    [subscriber] = _subscribers(engine, "quiet")
    assert (subscriber.callback_url, subscriber.failure_callback_url) == (None, FAILED_URL)
    assert subscriber.metadata is None
    assert jobs.get("no-such-job") is None


def test_duplicate_job_id_is_rejected_with_its_subscriber(engine: Engine, jobs: JobStore) -> None:
    _queue(jobs, subscriber=_subscriber(metadata={"n": 1}))
    with pytest.raises(IntegrityError):
        _queue(jobs, subscriber=_subscriber(metadata={"n": 2}))
    assert [s.metadata for s in _subscribers(engine)] == [{"n": 1}]


def test_timestamps_do_not_depend_on_the_session_time_zone(
    sql_url: str, engine: Engine, clock: Clock
) -> None:
    other = make_engine(sql_url, **_session_in_another_time_zone(sql_url))
    try:
        jobs = JobStore(other, event_body)
        assert _queue(jobs).created_at == NOW
        started = clock.tick()
        assert jobs.start_attempt("job-1", "job-1")
        completed = clock.tick()
        assert _complete(jobs) == []
        record = _get(jobs)
        with other.connect() as conn:
            stored = conn.execute(
                text("SELECT created_at FROM pdf_job_results").columns(created_at=DateTime())
            ).scalar_one()
    finally:
        other.dispose()
    assert (record.created_at, record.started_at, record.enqueued_at) == (NOW, started, NOW)
    assert (record.completed_at, record.updated_at) == (completed, completed)
    # what the column holds is UTC wall-clock time, whoever reads it
    assert stored == NOW.replace(tzinfo=None)
    assert _get(JobStore(engine, event_body)).created_at == NOW


def test_rows_inserted_by_other_tools_default_to_utc_now(sql_url: str, engine: Engine) -> None:
    """The server-side ``created_at`` default is UTC whatever the session's time zone."""
    other = make_engine(sql_url, **_session_in_another_time_zone(sql_url))
    try:
        with other.begin() as conn:
            conn.execute(pdf_job_results.insert().values(job_id="raw", code="c", product_id="p"))
        record = JobStore(other, event_body).get("raw")
    finally:
        other.dispose()
    assert record is not None
    assert (record.status, record.stage, record.priority, record.retry_count) == (
        "queued",
        "queued",
        "normal",
        0,
    )
    assert record.mirror_pending is False
    assert abs(record.created_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_ping_and_readable_pdf_filename(jobs: JobStore) -> None:
    jobs.ping()
    record = jobs.insert_queued(
        job_id="pdf_x",
        code="../A B/ç",
        product_id="minatBakatUmum",
        priority="normal",
        subscriber=None,
    )
    assert record.pdf_filename == "A_B_-minatBakatUmum.pdf"


# --- jobs: runs ---------------------------------------------------------------------------


def test_start_attempt_only_for_the_current_run_while_active(jobs: JobStore, clock: Clock) -> None:
    queued = _queue(jobs)
    clock.tick()
    assert not jobs.start_attempt("job-1", "job-1-r2")  # not its run
    assert not jobs.start_attempt("ghost", "ghost")
    assert _get(jobs) == queued

    started = clock.tick()
    assert jobs.start_attempt("job-1", "job-1")
    record = _get(jobs)
    assert (record.status, record.stage, record.retry_count) == ("processing", "loading", 0)
    assert record.started_at == record.updated_at == started
    assert record.enqueued_at == NOW
    clock.tick()
    assert not jobs.start_attempt("job-1", "job-1")  # a run starts once, never twice at once
    assert _get(jobs) == record

    clock.tick()
    assert jobs.schedule_retry(
        "job-1", from_run="job-1", next_run="job-1-r2", error_message="m", error_code="c"
    )
    assert not jobs.start_attempt("job-1", "job-1")  # the old run is stale now
    again = clock.tick()
    assert jobs.start_attempt("job-1", "job-1-r2")
    record = _get(jobs)
    assert (record.status, record.retry_count, record.updated_at) == ("processing", 1, again)
    assert record.started_at == started  # the first start is kept

    assert _complete(jobs) == []
    finished = _get(jobs)
    clock.tick()
    assert not jobs.start_attempt("job-1", "job-1-r2")  # not once it is finished
    assert _get(jobs) == finished


def test_set_stage_ignores_stale_runs_and_finished_jobs(jobs: JobStore, clock: Clock) -> None:
    _queue(jobs)
    jobs.start_attempt("job-1", "job-1")
    staged = clock.tick()
    jobs.set_stage("job-1", "job-1", "rendering")
    assert (_get(jobs).stage, _get(jobs).updated_at) == ("rendering", staged)

    clock.tick()
    jobs.set_stage("job-1", "job-1-r7", "storing")  # a duplicate run of another era
    assert (_get(jobs).stage, _get(jobs).updated_at) == ("rendering", staged)

    jobs.fail("job-1", status="failed", error_message="m", error_code="template_error")
    finished = _get(jobs)
    clock.tick()
    jobs.set_stage("job-1", "job-1", "storing")
    assert _get(jobs) == finished


def test_schedule_retry_counts_one_retry_and_moves_the_run(jobs: JobStore, clock: Clock) -> None:
    _queue(jobs)
    started = clock.tick()
    jobs.start_attempt("job-1", "job-1")
    jobs.set_stage("job-1", "job-1", "storing")
    retried = clock.tick()
    assert jobs.schedule_retry(
        "job-1",
        from_run="job-1",
        next_run="job-1-r2",
        error_message="Drive timed out",
        error_code="storage_error",
    )
    record = _get(jobs)
    assert (record.status, record.stage, record.retry_count, record.rq_job_id) == (
        "queued",
        "queued",
        1,
        "job-1-r2",
    )
    assert (record.error_message, record.error_code) == ("Drive timed out", "storage_error")
    assert (record.started_at, record.updated_at) == (started, retried)

    clock.tick()  # the same failed run reporting twice counts once
    assert not jobs.schedule_retry(
        "job-1", from_run="job-1", next_run="job-1-r2", error_message="x", error_code="x"
    )
    assert _get(jobs) == record

    jobs.start_attempt("job-1", "job-1-r2")
    assert jobs.schedule_retry(
        "job-1", from_run="job-1-r2", next_run="job-1-r3", error_message="e", error_code="c"
    )
    assert (_get(jobs).retry_count, _get(jobs).rq_job_id) == (2, "job-1-r3")


def test_requeue_touches_only_a_queued_job_of_the_same_run(jobs: JobStore, clock: Clock) -> None:
    queued = _queue(jobs)
    clock.tick()
    assert not jobs.requeue("job-1", run="job-1-r2")
    assert _get(jobs) == queued
    touched = clock.tick()
    assert jobs.requeue("job-1", run="job-1")
    assert _get(jobs) == replace(queued, updated_at=touched)  # no retry counted, same run

    jobs.start_attempt("job-1", "job-1")
    processing = _get(jobs)
    clock.tick()
    assert not jobs.requeue("job-1", run="job-1")  # running: not Redis's to lose
    assert _get(jobs) == processing

    _complete(jobs)
    finished = _get(jobs)
    clock.tick()
    assert not jobs.requeue("job-1", run="job-1")
    assert not jobs.requeue("ghost", run="ghost")
    assert _get(jobs) == finished


# --- jobs: terminal transitions and the events they owe ----------------------------------


def test_complete_wins_exactly_once_and_owes_the_success_event(
    engine: Engine, jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    _queue(jobs, subscriber=_subscriber(metadata=METADATA))
    jobs.start_attempt("job-1", "job-1")
    jobs.schedule_retry(
        "job-1", from_run="job-1", next_run="job-1-r2", error_message="e", error_code="c"
    )
    jobs.start_attempt("job-1", "job-1-r2")
    done = clock.tick(2)  # 2024-03-01T00:00:00.123457Z, past the leap day
    owed = _complete(jobs)
    record = _get(jobs)
    assert record.is_terminal
    assert (record.status, record.stage, record.completed_at, record.updated_at) == (
        "completed",
        "done",
        done,
        done,
    )
    assert (record.pdf_url, record.google_drive_link, record.storage_key) == (
        "https://pdfqueue.test/api/jobs/job-1/download",
        "https://drive.test/file/1",
        "reports/job-1-1.pdf",
    )
    assert (record.error_message, record.error_code, record.retry_count) == (None, None, 1)
    assert record.mirror_pending is True

    assert owed is not None
    [delivery] = owed
    [subscriber] = _subscribers(engine)
    assert delivery == Delivery(
        webhook_id=delivery.webhook_id,
        job_id="job-1",
        subscriber_id=subscriber.id,
        event="completed",
        url=DONE_URL,
        payload=delivery.payload,
        state="pending",
        attempts=0,
        round_attempts=0,
        created_at=done,
        updated_at=done,
        next_attempt_at=done,
    )
    assert delivery.webhook_id.startswith("msg_")
    assert delivery.is_owed
    assert json.loads(delivery.payload) == {
        "job_id": "job-1",
        "status": "completed",
        "google_drive_link": "https://drive.test/file/1",
        "google_drive_file_id": "reports/job-1-1.pdf",  # stored in Drive: its file id
        "pdf_url": "https://pdfqueue.test/api/jobs/job-1/download",
        "completed_at": "2024-03-01T00:00:00.123Z",
        "code": "PSI-001",
        "productId": "prod-9",
        "metadata": METADATA,
    }
    assert "Zoë Ñandú 🙂" in delivery.payload  # stored as UTF-8 text, not \u escapes
    assert deliveries.for_job("job-1") == [delivery]

    clock.tick()
    assert _complete(jobs, n=2) is None
    assert jobs.fail("job-1", status="failed", error_message="late", error_code="x") is None
    assert jobs.fail("job-1", status="cancelled", error_message="late", error_code="x") is None
    assert not jobs.start_attempt("job-1", "job-1-r2")
    jobs.set_stage("job-1", "job-1-r2", "rendering")
    assert not jobs.schedule_retry(
        "job-1", from_run="job-1-r2", next_run="job-1-r3", error_message="e", error_code="c"
    )
    assert _get(jobs) == record  # nothing after the terminal transition changed the row
    assert deliveries.for_job("job-1") == [delivery]  # and nothing more is owed


@pytest.mark.parametrize(
    ("status", "error_code", "retryable"),
    [
        ("failed", "report_not_found", False),
        ("failed", "render_timeout", True),
        ("cancelled", "cancelled", True),
    ],
)
def test_fail_wins_exactly_once_and_owes_the_failure_event(
    jobs: JobStore,
    deliveries: DeliveryStore,
    clock: Clock,
    status: str,
    error_code: str,
    retryable: bool,
) -> None:
    _queue(jobs, subscriber=_subscriber(metadata={"execution": "44"}))
    jobs.start_attempt("job-1", "job-1")
    jobs.schedule_retry(
        "job-1", from_run="job-1", next_run="job-1-r2", error_message="e", error_code="c"
    )
    failed = clock.tick(60)  # 2024-03-01T00:00:58.123457Z
    owed = jobs.fail(
        "job-1",
        status=status,
        error_message="No report for PSI-001 / prod-9",
        error_code=error_code,
    )
    record = _get(jobs)
    assert (record.status, record.stage, record.error_message, record.error_code) == (
        status,
        "done",
        "No report for PSI-001 / prod-9",
        error_code,
    )
    assert (record.retry_count, record.completed_at, record.pdf_url) == (1, failed, None)
    assert record.mirror_pending is True

    assert owed is not None
    [delivery] = owed
    assert (delivery.event, delivery.url, delivery.state) == (status, FAILED_URL, "pending")
    assert json.loads(delivery.payload) == {
        "job_id": "job-1",
        "status": status,
        "error": "No report for PSI-001 / prod-9",
        "error_code": error_code,
        "retryable": retryable,
        "failed_at": "2024-03-01T00:00:58.123Z",
        "retry_count": 1,
        "code": "PSI-001",
        "productId": "prod-9",
        "metadata": {"execution": "44"},
    }

    clock.tick()
    assert jobs.fail("job-1", status="failed", error_message="again", error_code="x") is None
    assert _complete(jobs) is None
    assert _get(jobs) == record
    assert deliveries.for_job("job-1") == [delivery]


def test_payload_leaves_out_metadata_nobody_gave(jobs: JobStore, clock: Clock) -> None:
    _queue(jobs, subscriber=_subscriber())
    owed = jobs.fail("job-1", status="failed", error_message="m", error_code="template_error")
    assert owed is not None
    payload = json.loads(owed[0].payload)
    assert "metadata" not in payload
    assert (payload["retryable"], payload["retry_count"]) == (False, 0)


@pytest.mark.parametrize(
    ("outcome", "callback_url", "failure_callback_url", "owed_to"),
    [
        ("completed", DONE_URL, None, DONE_URL),
        ("completed", None, FAILED_URL, None),
        ("completed", None, None, None),
        ("failed", None, FAILED_URL, FAILED_URL),
        ("failed", DONE_URL, None, None),
        ("cancelled", None, FAILED_URL, FAILED_URL),
        ("cancelled", DONE_URL, None, None),
    ],
)
def test_an_event_is_owed_only_where_a_url_for_the_outcome_exists(
    jobs: JobStore,
    deliveries: DeliveryStore,
    outcome: str,
    callback_url: str | None,
    failure_callback_url: str | None,
    owed_to: str | None,
) -> None:
    _queue(jobs, subscriber=_subscriber(callback_url, failure_callback_url))
    if outcome == "completed":
        owed = _complete(jobs)
    else:
        owed = jobs.fail("job-1", status=outcome, error_message="m", error_code="c")
    assert owed is not None
    assert [d.url for d in owed] == ([owed_to] if owed_to else [])
    assert deliveries.for_job("job-1") == owed
    assert _get(jobs).status == outcome


def test_no_subscriber_means_nothing_owed(jobs: JobStore, deliveries: DeliveryStore) -> None:
    _queue(jobs)
    assert _complete(jobs) == []
    assert deliveries.for_job("job-1") == []


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_every_subscriber_gets_its_own_event(
    engine: Engine, jobs: JobStore, deliveries: DeliveryStore, outcome: str
) -> None:
    _queue(jobs, subscriber=_subscriber(metadata={"who": "first"}))
    _join(engine, _subscriber("https://n8n.test/webhook-waiting/2?signature=aa", None, {"n": 2}))
    _join(engine, _subscriber(None, "https://n8n.test/webhook-waiting/3?signature=bb", None))
    _join(engine, _subscriber(None, None, {"who": "silent"}))
    subscribers = _subscribers(engine)
    if outcome == "completed":
        owed = _complete(jobs)
        expected = [
            (subscribers[0].id, DONE_URL, {"who": "first"}),
            (subscribers[1].id, "https://n8n.test/webhook-waiting/2?signature=aa", {"n": 2}),
        ]
    else:
        owed = jobs.fail("job-1", status="failed", error_message="m", error_code="c")
        expected = [
            (subscribers[0].id, FAILED_URL, {"who": "first"}),
            (subscribers[2].id, "https://n8n.test/webhook-waiting/3?signature=bb", None),
        ]
    assert owed is not None
    assert [(d.subscriber_id, d.url, json.loads(d.payload).get("metadata")) for d in owed] == (
        expected
    )
    assert len({d.webhook_id for d in owed}) == len(owed)  # one webhook-id each
    assert {d.event for d in owed} == {outcome}
    assert deliveries.for_job("job-1") == owed


TRACE_A = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_B = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"


def test_inline_subscribers_get_the_pdf_in_the_event_and_the_others_a_link(
    engine: Engine, jobs: JobStore, deliveries: DeliveryStore
) -> None:
    """A body over 64 KB fits the outbox on every backend (LONGTEXT on MariaDB)."""
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 400  # ~100 KB, ~136 KB as base64
    wants_pdf = replace(_subscriber(), deliver="inline", traceparent=TRACE_A)
    jobs.insert_queued(
        job_id="job-1",
        code="PSI-001",
        product_id="prod-9",
        priority="normal",
        subscriber=wants_pdf,
        traceparent=TRACE_A,
    )
    _join(engine, replace(_subscriber(), traceparent=TRACE_B))

    owed = jobs.complete(
        "job-1",
        pdf_url="u",
        google_drive_link=None,
        storage_key="k",
        render_warnings=("Ignored `colr: red` at 1:4, unknown property.",),
        pdf=InlinePDF(pdf, max_bytes=len(pdf)),
    )

    assert owed is not None
    inline, link = (json.loads(d.payload) for d in deliveries.for_job("job-1"))
    assert base64.b64decode(inline["pdf_base64"]) == pdf
    assert (inline["pdf_size"], inline["pdf_sha256"]) == (len(pdf), hashlib.sha256(pdf).hexdigest())
    assert "pdf_inline_skipped" not in inline
    assert not {"pdf_base64", "pdf_size", "pdf_sha256"} & set(link)
    assert [d.traceparent for d in deliveries.for_job("job-1")] == [TRACE_A, TRACE_B]
    record = _get(jobs)
    assert record.traceparent == TRACE_A
    assert record.render_warnings == ("Ignored `colr: red` at 1:4, unknown property.",)


def test_a_pdf_over_the_inline_limit_is_left_out_and_the_event_says_so(jobs: JobStore) -> None:
    _queue(jobs, subscriber=replace(_subscriber(), deliver="inline"))
    pdf = b"%PDF-1.7 eleven"

    owed = jobs.complete(
        "job-1", pdf_url="u", google_drive_link=None, storage_key="k", pdf=InlinePDF(pdf, 10)
    )

    assert owed is not None
    payload = json.loads(owed[0].payload)
    assert payload["pdf_base64"] is None
    assert (payload["pdf_inline_skipped"], payload["pdf_inline_max_bytes"]) == ("too_large", 10)
    assert payload["pdf_size"] == len(pdf)
    assert _get(jobs).render_warnings == ()


def test_a_failure_event_never_carries_a_pdf(jobs: JobStore) -> None:
    _queue(jobs, subscriber=replace(_subscriber(), deliver="inline"))
    owed = jobs.fail("job-1", status="failed", error_message="m", error_code="c")
    assert owed is not None
    assert "pdf_base64" not in json.loads(owed[0].payload)


def test_unknown_job_transitions_owe_nothing(jobs: JobStore) -> None:
    assert _complete(jobs, "ghost") is None
    assert jobs.fail("ghost", status="failed", error_message="m", error_code="c") is None


def test_a_job_fails_only_into_a_terminal_failure_state(jobs: JobStore) -> None:
    _queue(jobs)
    for status in ("queued", "processing", "completed"):
        with pytest.raises(ValueError, match="'failed' or 'cancelled'"):
            jobs.fail("job-1", status=status, error_message="m", error_code="c")
    assert _get(jobs).status == "queued"


def _race(count: int, work: Callable[[int], T]) -> dict[int, T]:
    """Run ``work(n)`` for n in range(count) on threads released together."""
    barrier = threading.Barrier(count)
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = work(n)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == count
    return results


def test_racing_terminal_transitions_have_one_winner_and_one_set_of_events(
    engine: Engine, jobs: JobStore, deliveries: DeliveryStore
) -> None:
    """Duplicate runs of one job finishing at once: exactly one outcome is recorded, and
    only its events are owed."""
    _queue(jobs, subscriber=_subscriber(metadata={"n": 1}))
    _join(engine, _subscriber(metadata={"n": 2}))

    def finish(n: int) -> list[Delivery] | None:
        if n % 2:
            return _complete(jobs, n=n)
        return jobs.fail("job-1", status="failed", error_message=f"e{n}", error_code="c")

    outcomes = _race(8, finish)
    winners = {n: owed for n, owed in outcomes.items() if owed is not None}
    assert len(winners) == 1, outcomes
    [(winner, owed)] = winners.items()
    record = _get(jobs)
    if winner % 2:
        assert (record.status, record.google_drive_link) == (
            "completed",
            f"https://drive.test/file/{winner}",
        )
    else:
        assert (record.status, record.error_message) == ("failed", f"e{winner}")
    assert len(owed) == 2
    assert {d.event for d in owed} == {record.status}
    assert deliveries.for_job("job-1") == owed


# --- jobs: the report-document mirror and the reconciler's selections --------------------


def test_mirror_pending_is_cleared_only_for_the_recorded_status(
    jobs: JobStore, clock: Clock
) -> None:
    _queue(jobs)
    assert _get(jobs).mirror_pending is False
    jobs.fail("job-1", status="cancelled", error_message="m", error_code="cancelled")
    assert _get(jobs).mirror_pending is True
    jobs.mirrored("job-1", "completed")  # a mirror of some other outcome proves nothing
    jobs.mirrored("job-1", "failed")
    assert _get(jobs).mirror_pending is True
    finished = _get(jobs)
    clock.tick()
    jobs.mirrored("job-1", "cancelled")
    assert _get(jobs) == replace(finished, mirror_pending=False)
    jobs.mirrored("ghost", "completed")


def test_active_and_mirror_lagging_select_by_idle_time(jobs: JobStore, clock: Clock) -> None:
    t0 = NOW
    _queue(jobs, "a")  # queued, untouched since t0
    clock.tick()
    _queue(jobs, "b")
    t2 = clock.tick()
    jobs.start_attempt("b", "b")  # processing since t2
    _queue(jobs, "c")
    t3 = clock.tick()
    _complete(jobs, "c")  # finished at t3, document not yet updated
    _queue(jobs, "d")
    t4 = clock.tick()
    jobs.fail("d", status="failed", error_message="m", error_code="c")
    jobs.mirrored("d", "failed")  # finished and mirrored

    def ids(records: list[JobRecord]) -> list[str]:
        return [r.job_id for r in records]

    micro = timedelta(microseconds=1)
    assert ids(jobs.active(idle_before=t0)) == []
    assert ids(jobs.active(idle_before=t0 + micro)) == ["a"]
    assert ids(jobs.active(idle_before=t2)) == ["a"]  # b was touched at t2
    assert ids(jobs.active(idle_before=t2 + micro)) == ["a", "b"]
    assert ids(jobs.active(idle_before=t4 + timedelta(days=1))) == ["a", "b"]
    assert ids(jobs.active(idle_before=t4 + timedelta(days=1), limit=1)) == ["a"]

    assert ids(jobs.mirror_lagging(idle_before=t3)) == []
    assert ids(jobs.mirror_lagging(idle_before=t3 + micro)) == ["c"]
    assert ids(jobs.mirror_lagging(idle_before=t4 + timedelta(days=1))) == ["c"]
    jobs.mirrored("c", "completed")
    assert jobs.mirror_lagging(idle_before=t4 + timedelta(days=1)) == []


# --- deliveries --------------------------------------------------------------------------


def _owe(jobs: JobStore, job_id: str = "job-1") -> Delivery:
    """A finished job that owes one success event."""
    _queue(jobs, job_id, subscriber=_subscriber())
    owed = _complete(jobs, job_id)
    assert owed is not None
    [delivery] = owed
    return delivery


def _claim(deliveries: DeliveryStore, delivery: Delivery) -> Delivery:
    claimed = deliveries.claim(delivery.webhook_id, lease=LEASE)
    assert claimed is not None
    return claimed


def _log(
    at: datetime, status: int | None = 503, error: str | None = "HTTP 503: busy"
) -> AttemptLog:
    return AttemptLog(attempted_at=at, duration_ms=125, http_status=status, error=error)


def test_claim_is_exclusive(jobs: JobStore, deliveries: DeliveryStore, clock: Clock) -> None:
    owed = _owe(jobs)
    claimed_at = clock.tick()
    claimed = _claim(deliveries, owed)
    assert claimed.claim_token
    assert claimed == replace(
        owed,
        state="sending",
        claimed_at=claimed_at,
        claim_token=claimed.claim_token,
        updated_at=claimed_at,
    )
    assert claimed.is_owed
    clock.tick()
    assert deliveries.claim(owed.webhook_id, lease=LEASE) is None
    assert deliveries.get(owed.webhook_id) == claimed
    assert deliveries.claim("msg_unknown", lease=LEASE) is None
    assert deliveries.get("msg_unknown") is None


def test_concurrent_claims_have_one_winner(jobs: JobStore, deliveries: DeliveryStore) -> None:
    owed = _owe(jobs)
    claims = _race(8, lambda n: deliveries.claim(owed.webhook_id, lease=LEASE))
    winners = [c for c in claims.values() if c is not None]
    assert len(winners) == 1, claims
    assert deliveries.get(owed.webhook_id) == winners[0]


def test_a_claim_is_not_given_before_next_attempt_at(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    owed = _owe(jobs)
    claimed = _claim(deliveries, owed)
    due = clock.now + timedelta(seconds=30)
    assert deliveries.finish_attempt(
        claimed, _log(clock.now), state="pending", retry_in=_seconds_until(due, clock)
    )
    for early in (timedelta(seconds=29), timedelta(seconds=10), timedelta(seconds=3)):
        clock.set(due - early)
        assert deliveries.claim(owed.webhook_id, lease=LEASE) is None
    clock.set(due)
    again = _claim(deliveries, owed)
    assert (again.state, again.attempts, again.claimed_at) == ("sending", 1, due)


def test_a_claim_allows_only_the_documented_clock_slack(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    """The scheduler that wakes an attempt may run a little ahead: CLOCK_SLACK, no more."""
    slack = deliveries_module.CLOCK_SLACK
    assert timedelta(0) <= slack <= timedelta(seconds=5)
    owed = _owe(jobs)
    claimed = _claim(deliveries, owed)
    due = clock.now + timedelta(seconds=30)
    assert deliveries.finish_attempt(
        claimed, _log(clock.now), state="pending", retry_in=_seconds_until(due, clock)
    )
    clock.set(due - slack - timedelta(microseconds=1))
    assert deliveries.claim(owed.webhook_id, lease=LEASE) is None
    clock.set(due - slack)
    assert _claim(deliveries, owed).claimed_at == due - slack


def test_an_expired_lease_can_be_claimed_again(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    owed = _owe(jobs)
    first = _claim(deliveries, owed)
    assert first.claimed_at == NOW
    clock.set(NOW + LEASE)
    assert deliveries.claim(owed.webhook_id, lease=LEASE) is None  # lease not yet over
    taken_over = clock.tick(0)
    second = _claim(deliveries, owed)
    assert second.claim_token != first.claim_token
    assert second.claimed_at == taken_over

    # the first claimer comes back: its attempt is logged, but it settles nothing
    first_log = _log(NOW, 200, None)
    assert not deliveries.finish_attempt(first, first_log, state="delivered")
    assert deliveries.get(owed.webhook_id) == second
    assert deliveries.attempts_of(owed.webhook_id) == [first_log]

    second_log = _log(taken_over, 204, None)
    assert deliveries.finish_attempt(second, second_log, state="delivered")
    settled = deliveries.get(owed.webhook_id)
    assert settled is not None
    assert (settled.state, settled.attempts, settled.last_status) == ("delivered", 1, 204)
    assert deliveries.attempts_of(owed.webhook_id) == [first_log, second_log]


def test_release_expired_reopens_only_claims_whose_lease_ran_out(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    stale = _claim(deliveries, _owe(jobs, "a"))
    assert stale.claimed_at == NOW
    clock.tick(60)
    live = _claim(deliveries, _owe(jobs, "b"))
    waiting = _owe(jobs, "c")
    assert deliveries.release_expired(lease=LEASE) == []

    reopened_at = clock.set(NOW + LEASE + timedelta(microseconds=1))
    reopened = deliveries.release_expired(lease=LEASE)
    assert reopened == [
        replace(
            stale,
            state="pending",
            next_attempt_at=reopened_at,
            claimed_at=None,
            claim_token=None,
            updated_at=reopened_at,
        )
    ]
    assert deliveries.get(live.webhook_id) == live
    assert deliveries.get(waiting.webhook_id) == waiting
    assert not deliveries.finish_attempt(stale, _log(reopened_at), state="failed")
    assert _claim(deliveries, stale).state == "sending"


@pytest.mark.parametrize(
    ("state", "status", "error"),
    [
        ("delivered", 204, None),
        ("failed", 410, "HTTP 410: gone"),
        ("pending", None, "NewConnectionError: Connection refused"),
    ],
)
def test_finish_attempt_logs_and_settles(
    jobs: JobStore,
    deliveries: DeliveryStore,
    clock: Clock,
    state: str,
    status: int | None,
    error: str | None,
) -> None:
    owed = _owe(jobs)
    attempted = clock.tick()
    claimed = _claim(deliveries, owed)
    settled_at = clock.tick()
    due = settled_at + timedelta(seconds=5) if state == "pending" else None
    log = _log(attempted, status, error)
    retry_in = 5.0 if state == "pending" else None
    assert deliveries.finish_attempt(claimed, log, state=state, retry_in=retry_in)
    settled = deliveries.get(owed.webhook_id)
    assert settled is not None
    assert settled == replace(
        owed,
        state=state,
        attempts=1,
        round_attempts=1,
        last_status=status,
        last_error=error,
        next_attempt_at=due,
        delivered_at=settled_at if state == "delivered" else None,
        updated_at=settled_at,
    )
    assert settled.is_owed is (state == "pending")
    assert deliveries.attempts_of(owed.webhook_id) == [log]
    clock.tick(3600)
    if state == "pending":
        assert _claim(deliveries, owed).attempts == 1
    else:
        assert deliveries.claim(owed.webhook_id, lease=LEASE) is None  # settled for good


def test_finish_attempt_refuses_a_stale_claim_but_logs_the_attempt(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    owed = _owe(jobs)
    first = _claim(deliveries, owed)
    deliveries.release(first)
    second = _claim(deliveries, owed)
    log = _log(clock.tick())
    assert not deliveries.finish_attempt(first, log, state="failed")
    assert deliveries.get(owed.webhook_id) == second
    assert deliveries.attempts_of(owed.webhook_id) == [log]
    assert deliveries.finish_attempt(second, log, state="delivered")
    assert not deliveries.finish_attempt(second, log, state="failed")  # settles only once
    settled = deliveries.get(owed.webhook_id)
    assert settled is not None
    assert (settled.state, settled.attempts) == ("delivered", 1)
    assert len(deliveries.attempts_of(owed.webhook_id)) == 3


def test_release_reopens_an_interrupted_claim(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    owed = _owe(jobs)
    claimed = _claim(deliveries, owed)
    released_at = clock.tick(20)
    deliveries.release(claimed)
    assert deliveries.get(owed.webhook_id) == replace(
        owed, next_attempt_at=released_at, updated_at=released_at
    )
    assert deliveries.attempts_of(owed.webhook_id) == []  # no answer, nothing to log
    again = _claim(deliveries, owed)  # due at once
    assert again.attempts == 0

    clock.tick()
    deliveries.release(claimed)  # an old claim gives back nothing it no longer holds
    assert deliveries.get(owed.webhook_id) == again


def test_replay_reopens_settled_deliveries_but_not_one_in_flight(
    engine: Engine, jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    _queue(jobs, subscriber=_subscriber(metadata={"n": 1}))
    _join(engine, _subscriber(metadata={"n": 2}))
    _join(engine, _subscriber(metadata={"n": 3}))
    owed = _complete(jobs)
    assert owed is not None
    delivered, failed, sending = owed

    c = _claim(deliveries, delivered)
    deliveries.finish_attempt(c, _log(clock.now, 200, None), state="delivered")
    c = _claim(deliveries, failed)
    due = clock.now + timedelta(seconds=5)
    deliveries.finish_attempt(
        c, _log(clock.now), state="pending", retry_in=_seconds_until(due, clock)
    )
    clock.set(due)
    c = _claim(deliveries, failed)
    deliveries.finish_attempt(c, _log(clock.now, 404, "HTTP 404: gone"), state="failed")
    in_flight = _claim(deliveries, sending)
    before = {d.webhook_id: d for d in deliveries.for_job("job-1")}

    replayed_at = clock.tick(86400)
    reopened = deliveries.replay(
        [delivered.webhook_id, failed.webhook_id, sending.webhook_id, "msg_unknown"]
    )
    assert sorted(reopened, key=lambda d: d.subscriber_id or 0) == [
        replace(
            before[d.webhook_id],
            state="pending",
            round_attempts=0,
            next_attempt_at=replayed_at,
            updated_at=replayed_at,
        )
        for d in (delivered, failed)
    ]
    assert [d.attempts for d in reopened] in ([1, 2], [2, 1])  # the history is kept
    assert {d.payload for d in reopened} == {delivered.payload, failed.payload}
    assert deliveries.get(sending.webhook_id) == in_flight
    assert deliveries.replay([]) == []
    assert _claim(deliveries, delivered).state == "sending"  # due at once


def test_find_filters_by_job_state_and_time(
    engine: Engine, jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    _queue(jobs, "a", subscriber=_subscriber())
    _join(engine, _subscriber(), "a")
    a_done = clock.tick()
    owed = _complete(jobs, "a")
    assert owed is not None
    a1, a2 = owed
    c = _claim(deliveries, a1)
    deliveries.finish_attempt(c, _log(clock.now, 200, None), state="delivered")
    c = _claim(deliveries, a2)
    deliveries.finish_attempt(c, _log(clock.now, 410, "HTTP 410"), state="failed")
    b_done = clock.tick(3600)
    b1 = _owe(jobs, "b")

    def ids(found: list[Delivery]) -> set[str]:
        return {d.webhook_id for d in found}

    everything = deliveries.find()
    assert ids(everything) == {a1.webhook_id, a2.webhook_id, b1.webhook_id}
    assert everything[-1].webhook_id == b1.webhook_id  # oldest first
    assert ids(deliveries.find(job_id="a")) == {a1.webhook_id, a2.webhook_id}
    assert ids(deliveries.find(states=["failed"])) == {a2.webhook_id}
    assert ids(deliveries.find(states=("delivered", "pending"))) == {a1.webhook_id, b1.webhook_id}
    assert ids(deliveries.find(since=a_done)) == ids(everything)
    assert ids(deliveries.find(since=b_done)) == {b1.webhook_id}
    assert ids(deliveries.find(since=b_done + timedelta(microseconds=1))) == set()
    assert ids(deliveries.find(job_id="a", states=["pending"])) == set()
    assert ids(deliveries.find(job_id="a", since=b_done)) == set()
    assert ids(deliveries.find(job_id="a", states=["failed"], since=a_done)) == {a2.webhook_id}
    assert deliveries.find(job_id="ghost") == []


def test_overdue_lists_pending_deliveries_past_their_time(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    waiting = _owe(jobs, "a")
    claimed = _claim(deliveries, waiting)
    due = clock.now + timedelta(seconds=30)
    deliveries.finish_attempt(
        claimed, _log(clock.now), state="pending", retry_in=_seconds_until(due, clock)
    )
    settled = _owe(jobs, "b")
    claimed = _claim(deliveries, settled)
    deliveries.finish_attempt(claimed, _log(clock.now, 200, None), state="delivered")
    assert deliveries.overdue(due_before=due) == []
    [late] = deliveries.overdue(due_before=due + timedelta(microseconds=1))
    assert (late.webhook_id, late.next_attempt_at) == (waiting.webhook_id, due)


def test_the_delivery_run_id_changes_with_each_attempt(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    owed = _owe(jobs)
    assert delivery_run_id(owed) == f"{owed.webhook_id}-0"
    claimed = _claim(deliveries, owed)
    assert delivery_run_id(claimed) == delivery_run_id(owed)  # the attempt under way
    deliveries.finish_attempt(claimed, _log(clock.now), state="pending", retry_in=0)
    following = deliveries.get(owed.webhook_id)
    assert following is not None
    assert delivery_run_id(following) == f"{owed.webhook_id}-1"
    assert delivery_run_id(replace(owed, webhook_id="pdf_1.completed")) == "pdf_1_completed-0"


def test_attempts_of_returns_the_log_in_order(
    jobs: JobStore, deliveries: DeliveryStore, clock: Clock
) -> None:
    owed = _owe(jobs)
    answers = [
        (503, "HTTP 503: n8n is restarting"),
        (None, "ReadTimeoutError: Read timed out. (read timeout=30)"),
        (409, 'HTTP 409: The execution "44" is running already.'),
        (200, None),
    ]
    logs = []
    for n, (status, error) in enumerate(answers):
        claimed = _claim(deliveries, owed)
        log = AttemptLog(
            attempted_at=clock.now, duration_ms=10 * n + 1, http_status=status, error=error
        )
        logs.append(log)
        last = n == len(answers) - 1
        state = "delivered" if last else "pending"
        retry_in = None if last else 5.0
        assert deliveries.finish_attempt(claimed, log, state=state, retry_in=retry_in)
        clock.tick(5)
    assert deliveries.attempts_of(owed.webhook_id) == logs
    settled = deliveries.get(owed.webhook_id)
    assert settled is not None
    assert (settled.state, settled.attempts, settled.round_attempts) == ("delivered", 4, 4)
    assert deliveries.attempts_of("msg_unknown") == []


def test_one_active_job_per_report_and_joining_it(jobs: JobStore, engine: Engine) -> None:
    first = _queue(jobs)
    with pytest.raises(IntegrityError):
        jobs.insert_queued(
            job_id="job-2", code="PSI-001", product_id="prod-9", priority="low", subscriber=None
        )
    active = jobs.active_for("PSI-001", "prod-9")
    assert active is not None and active.job_id == first.job_id
    assert jobs.active_for("PSI-001", "other") is None
    joiner = _subscriber("https://example.test/b/pdf-complete", None, {"n": 2})
    assert jobs.join("job-1", joiner)
    assert [s.metadata for s in _subscribers(engine)] == [{"n": 2}]

    owed = jobs.complete("job-1", pdf_url="u", google_drive_link=None, storage_key="k")
    assert owed is not None and len(owed) == 1
    assert not jobs.join("job-1", joiner)  # finished: nobody joins any more
    assert jobs.active_for("PSI-001", "prod-9") is None
    again = jobs.insert_queued(
        job_id="job-3", code="PSI-001", product_id="prod-9", priority="low", subscriber=None
    )
    assert again.job_id == "job-3"  # a finished report renders afresh
