"""JobStore against real SQLite, PostgreSQL and MariaDB databases.

The conditional transitions are the point: whichever of a job's duplicate runs
finishes first owns the terminal outcome, and only it may send the webhook.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import IntegrityError

from flask_pdfqueue.records import sql as records
from flask_pdfqueue.records.sql import JobRecord, JobStore

NOW = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
METADATA = {"candidate": "Zoë Ñandú", "scores": [1, 2.5, None], "nested": {"ok": True}}


class Clock:
    """Stands in for records.sql.utcnow so timestamps are exact, microseconds included."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self) -> datetime:
        self.now += timedelta(seconds=1, microseconds=1)
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(records, "utcnow", clock)
    return clock


def _open_store(url: str, **engine_options: Any) -> JobStore:
    store = JobStore(url, **engine_options)
    store.create_schema()
    return store


@pytest.fixture
def store(sql_url: str) -> Iterator[JobStore]:
    store = _open_store(sql_url)
    yield store
    store.dispose()


def _queue(
    store: JobStore,
    job_id: str = "job-1",
    *,
    callback_url: str | None = None,
    failure_callback_url: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> JobRecord:
    return store.insert_queued(
        job_id=job_id,
        code="PSI-001",
        product_id="prod-9",
        priority="high",
        callback_url=callback_url,
        failure_callback_url=failure_callback_url,
        metadata=metadata,
    )


def _get(store: JobStore, job_id: str = "job-1") -> JobRecord:
    record = store.get(job_id)
    assert record is not None
    return record


def test_insert_queued_round_trips_every_field(store: JobStore, clock: Clock) -> None:
    inserted = _queue(
        store,
        callback_url="https://example.test/done",
        failure_callback_url="https://example.test/failed",
        metadata=METADATA,
    )
    assert inserted == _get(store)
    assert inserted == JobRecord(
        job_id="job-1",
        code="PSI-001",
        product_id="prod-9",
        status="queued",
        stage="queued",
        priority="high",
        created_at=NOW,
        updated_at=NOW,
        retry_count=0,
        callback_url="https://example.test/done",
        failure_callback_url="https://example.test/failed",
        metadata=METADATA,
        webhook_attempts=0,
    )
    assert inserted.created_at.utcoffset() == timedelta(0)
    assert not inserted.is_terminal


def test_missing_metadata_stays_none_and_unknown_job_is_none(store: JobStore) -> None:
    assert _queue(store).metadata is None
    assert store.get("no-such-job") is None


def test_duplicate_job_id_is_rejected(store: JobStore) -> None:
    _queue(store)
    with pytest.raises(IntegrityError):
        _queue(store)


def _session_in_another_time_zone(url: str) -> dict[str, Any]:
    """Engine options that put each connection's session time zone at UTC-5."""
    backend = make_url(url).get_backend_name()
    if backend == "postgresql":
        return {"connect_args": {"options": "-c timezone=America/New_York"}}
    if backend == "mysql":
        return {"connect_args": {"init_command": "SET time_zone = '-05:00'"}}
    return {}  # SQLite has no session time zone


def test_timestamps_do_not_depend_on_the_session_time_zone(sql_url: str, clock: Clock) -> None:
    store = _open_store(sql_url, **_session_in_another_time_zone(sql_url))
    try:
        assert _queue(store).created_at == NOW
        started = clock.advance()
        store.start_attempt("job-1", retry_count=0)
        completed = clock.advance()
        store.complete("job-1", pdf_url="u", google_drive_link=None, storage_key="k")
        record = _get(store)
    finally:
        store.dispose()
    assert (record.created_at, record.started_at) == (NOW, started)
    assert (record.completed_at, record.updated_at) == (completed, completed)


def test_start_attempt_set_stage_and_note_retry(store: JobStore, clock: Clock) -> None:
    _queue(store)
    started = clock.advance()
    assert store.start_attempt("job-1", retry_count=0)
    record = _get(store)
    assert (record.status, record.stage, record.retry_count) == ("processing", "loading", 0)
    assert record.started_at == record.updated_at == started

    store.set_stage("job-1", "rendering")
    assert _get(store).stage == "rendering"

    retried = clock.advance()
    store.note_retry("job-1", error_message="drive timed out", error_code="storage_timeout")
    record = _get(store)
    assert (record.status, record.stage) == ("queued", "queued")
    assert (record.error_message, record.error_code) == ("drive timed out", "storage_timeout")
    assert record.updated_at == retried

    clock.advance()
    assert store.start_attempt("job-1", retry_count=1)
    record = _get(store)
    assert (record.status, record.retry_count) == ("processing", 1)
    assert record.started_at == started  # the first attempt's start is kept


def test_complete_wins_exactly_once(store: JobStore, clock: Clock) -> None:
    _queue(store)
    store.start_attempt("job-1", retry_count=0)
    store.note_retry("job-1", error_message="flaky", error_code="render_error")
    store.start_attempt("job-1", retry_count=1)
    done = clock.advance()
    assert store.complete(
        "job-1",
        pdf_url="https://cdn.test/a.pdf",
        google_drive_link="https://drive.test/a",
        storage_key="reports/a.pdf",
    )
    record = _get(store)
    assert record.is_terminal
    assert (record.status, record.completed_at, record.updated_at) == ("completed", done, done)
    assert (record.pdf_url, record.google_drive_link, record.storage_key) == (
        "https://cdn.test/a.pdf",
        "https://drive.test/a",
        "reports/a.pdf",
    )
    assert (record.error_message, record.error_code) == (None, None)

    clock.advance()
    assert not store.complete(
        "job-1", pdf_url="https://cdn.test/b.pdf", google_drive_link=None, storage_key="b.pdf"
    )
    assert not store.fail(
        "job-1", status="failed", error_message="late", error_code="x", retry_count=2
    )
    assert not store.start_attempt("job-1", retry_count=2)
    store.set_stage("job-1", "rendering")
    store.note_retry("job-1", error_message="late", error_code="x")
    assert _get(store) == record  # nothing after the terminal transition changed the row


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_fail_wins_exactly_once(store: JobStore, clock: Clock, status: str) -> None:
    _queue(store)
    done = clock.advance()
    assert store.fail(
        "job-1",
        status=status,
        error_message="no such report",
        error_code="not_found",
        retry_count=3,
    )
    record = _get(store)
    assert (record.status, record.error_message, record.error_code, record.retry_count) == (
        status,
        "no such report",
        "not_found",
        3,
    )
    assert record.completed_at == done
    assert not store.fail(
        "job-1", status="failed", error_message="again", error_code="x", retry_count=4
    )
    assert not store.complete("job-1", pdf_url="u", google_drive_link=None, storage_key="k")
    assert _get(store) == record


def test_unknown_job_transitions_return_false(store: JobStore) -> None:
    assert not store.start_attempt("ghost", retry_count=0)
    assert not store.complete("ghost", pdf_url="u", google_drive_link=None, storage_key="k")
    assert not store.fail(
        "ghost", status="failed", error_message="m", error_code="c", retry_count=0
    )


def test_racing_terminal_transitions_have_one_winner(sql_url: str) -> None:
    """Duplicate runs of one job finishing at once: exactly one outcome is recorded."""
    store = _open_store(sql_url, pool_size=8)
    try:
        _queue(
            store,
            callback_url="https://example.test/done",
            failure_callback_url="https://example.test/failed",
        )
        barrier = threading.Barrier(8)
        outcomes: dict[int, bool] = {}

        def finish(n: int) -> None:
            barrier.wait()
            if n % 2:
                outcomes[n] = store.complete(
                    "job-1", pdf_url=f"u{n}", google_drive_link=None, storage_key=f"k{n}"
                )
            else:
                outcomes[n] = store.fail(
                    "job-1",
                    status="failed",
                    error_message=f"e{n}",
                    error_code="c",
                    retry_count=n,
                )

        threads = [threading.Thread(target=finish, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        winners = [n for n, won in outcomes.items() if won]
        assert len(outcomes) == 8
        assert len(winners) == 1
        record = _get(store)
        if winners[0] % 2:
            assert (record.status, record.pdf_url) == ("completed", f"u{winners[0]}")
        else:
            assert (record.status, record.error_message) == ("failed", f"e{winners[0]}")
    finally:
        store.dispose()


@pytest.mark.parametrize(
    ("outcome", "callback_url", "failure_callback_url", "owed"),
    [
        ("completed", "https://example.test/done", None, True),
        ("completed", None, "https://example.test/failed", False),
        ("completed", None, None, False),
        ("failed", None, "https://example.test/failed", True),
        ("failed", "https://example.test/done", None, False),
        ("cancelled", None, "https://example.test/failed", True),
        ("cancelled", "https://example.test/done", None, False),
    ],
)
def test_webhook_is_owed_only_when_the_relevant_url_exists(
    store: JobStore,
    outcome: str,
    callback_url: str | None,
    failure_callback_url: str | None,
    owed: bool,
) -> None:
    _queue(store, callback_url=callback_url, failure_callback_url=failure_callback_url)
    if outcome == "completed":
        assert store.complete("job-1", pdf_url="u", google_drive_link=None, storage_key="k")
    else:
        assert store.fail("job-1", status=outcome, error_message="m", error_code="c", retry_count=0)
    record = _get(store)
    assert record.status == outcome
    expected = ("pending", "notifying") if owed else (None, "done")
    assert (record.webhook_state, record.stage) == expected


def test_record_delivery_counts_attempts(store: JobStore) -> None:
    _queue(store, callback_url="https://example.test/done")
    store.complete("job-1", pdf_url="u", google_drive_link=None, storage_key="k")

    store.record_delivery("job-1", delivered=False, last_status=503)
    record = _get(store)
    assert (record.webhook_state, record.webhook_attempts, record.webhook_last_status) == (
        "pending",
        1,
        503,
    )
    assert record.stage == "done"

    store.record_delivery("job-1", delivered=False, last_status=None)  # connection refused
    store.record_delivery("job-1", delivered=True, last_status=204)
    record = _get(store)
    assert (record.webhook_state, record.webhook_attempts, record.webhook_last_status) == (
        "delivered",
        3,
        204,
    )
    assert record.status == "completed"


def test_delete_removes_only_that_job(store: JobStore) -> None:
    for job_id in ("a", "b"):
        _queue(store, job_id)
    store.delete("a")
    assert store.get("a") is None
    assert store.get("b") is not None
    store.delete("a")  # deleting twice is harmless


def test_ping_and_create_schema_twice(store: JobStore) -> None:
    store.create_schema()
    store.ping()


def test_a_job_fails_only_into_a_terminal_failure_state(store: JobStore) -> None:
    _queue(store, "q")
    with pytest.raises(ValueError, match="'failed' or 'cancelled'"):
        store.fail("q", status="queued", error_message="m", error_code="c", retry_count=0)


def test_pdf_filename_is_readable_and_safe(store: JobStore) -> None:
    record = store.insert_queued(
        job_id="pdf_x",
        code="../A B/ç",
        product_id="minatBakatUmum",
        priority="normal",
        callback_url=None,
        failure_callback_url=None,
        metadata=None,
    )
    assert record.pdf_filename == "A_B_-minatBakatUmum.pdf"


def test_rows_inserted_by_other_tools_default_to_utc_now(sql_url: str) -> None:
    """The server-side ``created_at`` default is UTC whatever the session's time zone."""
    store = _open_store(sql_url, **_session_in_another_time_zone(sql_url))
    try:
        with store.engine.begin() as conn:
            conn.execute(
                records.pdf_job_results.insert().values(job_id="raw", code="c", product_id="p")
            )
        record = store.get("raw")
    finally:
        store.dispose()
    assert record is not None
    assert record.status == "queued"
    assert abs(record.created_at - datetime.now(UTC)) < timedelta(seconds=5)
