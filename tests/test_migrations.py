"""The migrations on real SQLite, PostgreSQL and MariaDB databases.

A database the released code made (its DDL is frozen under ``tests/data/schema_v0``)
is upgraded with every kind of row it can hold: the rows must come out intact and
the callbacks and webhook states must land in the outbox tables as the old release
would have sent them. Fresh databases go up, down and up again, and after every
upgrade Alembic's own comparison finds nothing between the database and the code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    DefaultClause,
    Engine,
    MetaData,
    String,
    Table,
    column,
    inspect,
    make_url,
    select,
    table,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnClause

from flask_pdfqueue.records.migrations import (
    BASELINE,
    current,
    downgrade,
    head,
    offline_sql,
    upgrade,
)
from flask_pdfqueue.records.sql import make_engine, metadata
from flask_pdfqueue.records.sql.columns import Timestamp
from tests.sql_backends import apply_sql_file

HEAD = head()
ACTIVE = ("queued", "processing")
SCHEMA_V0 = Path(__file__).resolve().parent / "data" / "schema_v0"
MOVED = {
    "callback_url",
    "failure_callback_url",
    "metadata_json",
    "webhook_state",
    "webhook_attempts",
    "webhook_last_status",
}
T0 = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
ZOE = {"candidate": "Zoë Ångström", "batch": 7}


def _at(minutes: int, microseconds: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, microseconds=microseconds)


def _job(job_id: str, status: str, **values: Any) -> dict[str, Any]:
    """A row as the released code wrote it: every column given, as ``insert`` did."""
    row: dict[str, Any] = {
        "job_id": job_id,
        "code": f"CODE-{job_id}",
        "product_id": "PSI-01",
        "google_drive_link": None,
        "status": status,
        "error_message": None,
        "created_at": T0,
        "completed_at": None,
        "retry_count": 0,
        "priority": "normal",
        "stage": "queued",
        "started_at": None,
        "updated_at": T0,
        "error_code": None,
        "pdf_url": None,
        "storage_key": None,
        "callback_url": None,
        "failure_callback_url": None,
        "metadata_json": None,
        "webhook_state": None,
        "webhook_attempts": 0,
        "webhook_last_status": None,
    }
    row.update(values)
    return row


OK_URL = "http://n8n.local/webhook-waiting/1?token=t"
FAIL_URL = "http://n8n.local/webhook-waiting/1/failure?token=t"

#: Every kind of row the released code leaves behind.
RELEASED_JOBS = [
    _job("queued-plain", "queued"),
    _job(
        "processing-hooked",
        "processing",
        stage="rendering",
        started_at=_at(1),
        updated_at=_at(1),
        callback_url=OK_URL,
        failure_callback_url=FAIL_URL,
        metadata_json='{"nama": "Siti Müller 日本"}',  # written by hand: not ASCII-escaped
    ),
    _job(
        "completed-delivered",
        "completed",
        stage="done",
        google_drive_link="https://drive.example/file/1",
        pdf_url="/api/v1/jobs/completed-delivered/pdf",
        storage_key="reports/completed-delivered.pdf",
        started_at=_at(1),
        completed_at=_at(2, 366999),
        updated_at=_at(3),
        callback_url=OK_URL,
        failure_callback_url=FAIL_URL,
        metadata_json=json.dumps(ZOE),
        webhook_state="delivered",
        webhook_attempts=1,
        webhook_last_status=200,
    ),
    _job(
        "failed-pending",
        "failed",
        stage="notifying",
        retry_count=2,
        error_message="Chromium? No: WeasyPrint ran out of memory",
        error_code="render_failed",
        completed_at=_at(4),
        updated_at=_at(5),
        failure_callback_url=FAIL_URL,
        metadata_json=json.dumps(ZOE),
        webhook_state="pending",
        webhook_attempts=2,
        webhook_last_status=503,
    ),
    _job(
        "failed-sending",
        "failed",
        stage="notifying",
        error_message="no report for CODE-failed-sending",
        error_code="report_not_found",
        completed_at=_at(6),
        callback_url=OK_URL,
        failure_callback_url=FAIL_URL,
        webhook_state="sending",
    ),
    _job(
        "failed-gave-up",
        "failed",
        stage="done",
        error_message="template 'psikotes' failed",
        error_code="template_error",
        completed_at=_at(7),
        updated_at=None,
        failure_callback_url=FAIL_URL,
        webhook_state="failed",
        webhook_attempts=5,
        webhook_last_status=404,
    ),
    _job("cancelled-no-failure-hook", "cancelled", callback_url=OK_URL, completed_at=_at(8)),
    _job("completed-no-hook", "completed", pdf_url="/p.pdf", completed_at=_at(9)),
]


def _with_metadata(payload: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "metadata": metadata}


#: webhook_id -> (subscriber's job, state, attempts, last_status, payload as sent).
EXPECTED_DELIVERIES: dict[str, tuple[str, str, int, int | None, dict[str, Any]]] = {
    "completed-delivered.completed": (
        "completed-delivered",
        "delivered",
        1,
        200,
        _with_metadata(
            {
                "job_id": "completed-delivered",
                "status": "completed",
                "google_drive_link": "https://drive.example/file/1",
                "pdf_url": "/api/v1/jobs/completed-delivered/pdf",
                "completed_at": "2026-11-25T10:02:00.490Z",
                "code": "CODE-completed-delivered",
                "productId": "PSI-01",
            },
            ZOE,
        ),
    ),
    "failed-pending.failed": (
        "failed-pending",
        "pending",
        2,
        503,
        _with_metadata(
            {
                "job_id": "failed-pending",
                "status": "failed",
                "error": "Chromium? No: WeasyPrint ran out of memory",
                "error_code": "render_failed",
                "retryable": True,
                "failed_at": "2026-11-25T10:04:00.123Z",
                "retry_count": 2,
                "code": "CODE-failed-pending",
                "productId": "PSI-01",
            },
            ZOE,
        ),
    ),
    "failed-sending.failed": (
        "failed-sending",
        "pending",  # its claimer died with the old release
        0,
        None,
        {
            "job_id": "failed-sending",
            "status": "failed",
            "error": "no report for CODE-failed-sending",
            "error_code": "report_not_found",
            "retryable": False,
            "failed_at": "2026-11-25T10:06:00.123Z",
            "retry_count": 0,
            "code": "CODE-failed-sending",
            "productId": "PSI-01",
        },
    ),
    "failed-gave-up.failed": (
        "failed-gave-up",
        "failed",
        5,
        404,
        {
            "job_id": "failed-gave-up",
            "status": "failed",
            "error": "template 'psikotes' failed",
            "error_code": "template_error",
            "retryable": False,
            "failed_at": "2026-11-25T10:07:00.123Z",
            "retry_count": 0,
            "code": "CODE-failed-gave-up",
            "productId": "PSI-01",
        },
    ),
}


def _typed(name: str) -> ColumnClause[Any]:
    """Timestamps (every ``*_at`` column) read back as aware UTC, as the code reads them."""
    return column(name, Timestamp()) if name.endswith("_at") else column(name)


def _insert(engine: Engine, name: str, rows: list[dict[str, Any]]) -> None:
    target = table(name, *map(_typed, rows[0]))
    with engine.begin() as conn:
        conn.execute(target.insert(), rows)


def _rows(engine: Engine, name: str, key: str) -> dict[Any, dict[str, Any]]:
    """Every row of a table by ``key``, timestamps as aware UTC datetimes."""
    names = [c["name"] for c in inspect(engine).get_columns(name)]
    source = table(name, *map(_typed, names))
    with engine.connect() as conn:
        rows = conn.execute(select(source)).mappings().all()
    return {row[key]: dict(row) for row in rows}


def _released_database(engine: Engine) -> None:
    dialect = make_url(engine.url).get_backend_name()
    apply_sql_file(engine.url.render_as_string(hide_password=False), SCHEMA_V0 / f"{dialect}.sql")
    _insert(engine, "pdf_job_results", RELEASED_JOBS)


def _schema_differences(engine: Engine, schema: MetaData = metadata) -> list[Any]:
    """What Alembic's autogenerate would change to make the database match ``schema``.

    Types and server defaults are compared as well, and nothing is filtered out:
    every backend reflects what the migrations made as ``metadata`` states it.
    Alembic does not compare CHECK constraints or MySQL table options at all;
    tests/test_sql_schema.py compares those on reflected snapshots.
    """
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, schema))


#: pdf_job_results columns the migrations added after the released schema.
ADDED_JOB_COLUMNS = (
    "rq_job_id",
    "enqueued_at",
    "mirror_pending",
    "dedupe_key",
    "traceparent",
    "render_warnings",
)


@pytest.fixture
def engine(sql_url: str) -> Iterator[Engine]:
    engine = make_engine(sql_url)  # as the service opens it (SQLite: foreign keys on)
    yield engine
    engine.dispose()


def test_upgrade_keeps_released_rows_and_moves_callbacks(engine: Engine) -> None:
    _released_database(engine)
    before = _rows(engine, "pdf_job_results", "job_id")
    assert current(engine) is None
    started = datetime.now(UTC)

    upgrade(engine)

    assert current(engine) == HEAD
    after = _rows(engine, "pdf_job_results", "job_id")
    assert after.keys() == before.keys()
    for job_id, old in before.items():
        new = after[job_id]
        assert {k: v for k, v in old.items() if k not in MOVED} == {
            k: v for k, v in new.items() if k not in ADDED_JOB_COLUMNS
        }
        assert new["rq_job_id"] == job_id
        assert new["traceparent"] is None and new["render_warnings"] is None
        assert new["enqueued_at"] == (old["created_at"] if old["status"] in ACTIVE else None)
        assert new["mirror_pending"] in (False, 0)
    assert MOVED.isdisjoint(next(iter(after.values())))

    by_id = _rows(engine, "pdf_job_subscribers", "id")
    subscribers = {s["job_id"]: s for s in by_id.values()}
    assert len(subscribers) == len(by_id)  # one per job
    assert {(s["deliver"], s["traceparent"]) for s in by_id.values()} == {("link", None)}
    assert {
        job_id: (s["callback_url"], s["failure_callback_url"], s["metadata_json"], s["created_at"])
        for job_id, s in subscribers.items()
    } == {
        job["job_id"]: (
            job["callback_url"],
            job["failure_callback_url"],
            job["metadata_json"],
            job["created_at"],
        )
        for job in RELEASED_JOBS
        if job["callback_url"] or job["failure_callback_url"]
    }

    deliveries = _rows(engine, "pdf_webhook_deliveries", "webhook_id")
    assert deliveries.keys() == EXPECTED_DELIVERIES.keys()
    released = {job["job_id"]: job for job in RELEASED_JOBS}
    for webhook_id, (job_id, state, attempts, last_status, payload) in EXPECTED_DELIVERIES.items():
        delivery = deliveries[webhook_id]
        job = released[job_id]
        assert delivery["job_id"] == job_id
        assert delivery["subscriber_id"] == subscribers[job_id]["id"]
        assert delivery["event"] == job["status"]
        assert delivery["url"] == (OK_URL if job["status"] == "completed" else FAIL_URL)
        assert json.loads(delivery["payload"]) == payload
        assert (delivery["state"], delivery["attempts"], delivery["round_attempts"]) == (
            state,
            attempts,
            attempts,
        )
        assert delivery["last_status"] == last_status
        settled_at = job["completed_at"]
        assert (delivery["created_at"], delivery["updated_at"]) == (settled_at, settled_at)
        if state == "pending":
            assert started - timedelta(seconds=1) <= delivery["next_attempt_at"]
            assert delivery["next_attempt_at"] <= datetime.now(UTC)
        else:
            assert delivery["next_attempt_at"] is None
        assert delivery["delivered_at"] == (job["updated_at"] if state == "delivered" else None)
        assert (delivery["claimed_at"], delivery["claim_token"], delivery["last_error"]) == (
            None,
            None,
            None,
        )
    assert _rows(engine, "pdf_webhook_attempts", "id") == {}


def test_payloads_are_the_bytes_the_released_code_sent(engine: Engine) -> None:
    """Compact JSON, keys in the old order, non-ASCII as is: a replay signs the same body."""
    _released_database(engine)
    upgrade(engine)
    payload = _rows(engine, "pdf_webhook_deliveries", "webhook_id")["failed-pending.failed"][
        "payload"
    ]
    assert payload.startswith('{"job_id":"failed-pending","status":"failed","error":"Chromium?')
    assert payload.endswith(',"metadata":{"candidate":"Zoë Ångström","batch":7}}')
    assert (
        json.dumps(
            EXPECTED_DELIVERIES["failed-pending.failed"][4],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        == payload
    )


def test_downgrade_gives_the_released_rows_back(engine: Engine) -> None:
    """Up and down again: every job as it was, except that an event in flight is owed again."""
    _released_database(engine)
    before = _rows(engine, "pdf_job_results", "job_id")
    upgrade(engine)
    downgrade(engine, BASELINE)
    assert current(engine) == BASELINE
    before["failed-sending"]["webhook_state"] = "pending"
    assert _rows(engine, "pdf_job_results", "job_id") == before
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "pdf_job_results"}


def test_fresh_database_goes_up_down_and_up(engine: Engine) -> None:
    assert current(engine) is None
    upgrade(engine)
    assert current(engine) == HEAD
    assert _schema_differences(engine) == []

    downgrade(engine, BASELINE)
    assert current(engine) == BASELINE
    tables = inspect(engine)
    assert set(tables.get_table_names()) == {"alembic_version", "pdf_job_results"}
    columns = {c["name"] for c in tables.get_columns("pdf_job_results")}
    assert columns >= MOVED
    assert {"rq_job_id", "enqueued_at", "mirror_pending"}.isdisjoint(columns)

    upgrade(engine)
    assert current(engine) == HEAD
    assert _schema_differences(engine) == []


def test_upgraded_released_database_matches_the_code(engine: Engine) -> None:
    _released_database(engine)
    upgrade(engine)
    assert _schema_differences(engine) == []


def _retype_code(jobs: Table) -> None:
    jobs.c.code.type = String(128)


def _change_created_at_default(jobs: Table) -> None:
    jobs.c.created_at.server_default = DefaultClause("2026-01-01 00:00:00")


def _drop_status_index(jobs: Table) -> None:
    jobs.indexes.discard(next(i for i in jobs.indexes if i.name == "idx_status"))


@pytest.mark.parametrize(
    ("alter", "expected"),
    [
        (_retype_code, "modify_type"),
        (_change_created_at_default, "modify_default"),
        (_drop_status_index, "remove_index"),
    ],
    ids=["type", "server-default", "index"],
)
def test_comparison_sees_drift(
    engine: Engine, alter: Callable[[Table], None], expected: str
) -> None:
    """The comparison above is not blind: one altered detail is one difference."""
    altered = MetaData(naming_convention=metadata.naming_convention)
    for model in metadata.sorted_tables:
        model.to_metadata(altered)
    alter(altered.tables["pdf_job_results"])
    upgrade(engine)
    found = _schema_differences(engine, altered)
    assert len(found) == 1
    change = found[0][0] if isinstance(found[0], list) else found[0]  # columns come nested
    assert change[0] == expected


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    _released_database(engine)
    upgrade(engine)
    tables = sorted(inspect(engine).get_table_names())
    rows = {name: _rows(engine, name, _first_column(engine, name)) for name in tables}

    upgrade(engine)

    assert current(engine) == HEAD
    assert sorted(inspect(engine).get_table_names()) == tables
    assert {name: _rows(engine, name, _first_column(engine, name)) for name in tables} == rows


def test_references_are_enforced_after_upgrade(engine: Engine) -> None:
    """SQLite's rebuild runs with foreign keys off; the service's connections get them back."""
    upgrade(engine)
    orphan = {"job_id": "nobody", "created_at": T0}
    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        _insert(engine, "pdf_job_subscribers", [orphan])


def test_upgrade_to_the_baseline_stops_there(engine: Engine) -> None:
    upgrade(engine, BASELINE)
    assert current(engine) == BASELINE
    assert set(inspect(engine).get_table_names()) == {"alembic_version", "pdf_job_results"}


def test_offline_sql_refuses_unknown_dialects() -> None:
    with pytest.raises(ValueError, match="sqlite, postgresql, mysql"):
        offline_sql("oracle")


def _first_column(engine: Engine, name: str) -> str:
    return str(inspect(engine).get_columns(name)[0]["name"])
