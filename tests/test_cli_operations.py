"""``flask pdfqueue info | failed | cleanup | regenerate`` on real Redis, SQL and files."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import update

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.cli import pdfqueue_cli
from flask_pdfqueue.jobs.steps.record import record_failed
from flask_pdfqueue.records.sql import SubscriberRequest, pdf_job_results
from flask_pdfqueue.records.sql.delivery_rows import pdf_webhook_deliveries
from flask_pdfqueue.records.sql.subscribers import subscribers_of
from flask_pdfqueue.timestamps import utcnow
from tests.factories import isolated_app, processing_job, queued_job, state_of
from tests.servers import RunningServer


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    yield from isolated_app(stack_settings, redis_server, tmp_path, redis_db=14)


def _run(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(pdfqueue_cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _completed(state: PDFQueueState, code: str, *, days_ago: float = 0) -> str:
    job_id = processing_job(state, code=code)
    key = f"{job_id}.pdf"
    state.storage.save(job_id, b"%PDF-1.7 test", "x.pdf")
    state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key=key)
    _age(state, job_id, days_ago)
    return job_id


def _age(state: PDFQueueState, job_id: str, days: float) -> None:
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_job_results)
            .where(pdf_job_results.c.job_id == job_id)
            .values(completed_at=utcnow() - timedelta(days=days))
        )


def test_info_shows_queues_workers_and_jobs(app: Flask) -> None:
    state = state_of(app)
    queued_job(state, code="INFO-1", enqueue=True)
    _completed(state, "INFO-2")
    output = _run(app, "info")
    assert "pdf-normal     waiting     1" in output
    assert "pdf-webhooks" in output
    assert "workers: 0" in output
    assert "jobs: queued 1, processing 0, completed 1, failed 0, cancelled 0" in output


def test_failed_lists_dead_letters_and_requeues_one_for_the_same_subscribers(
    app: Flask,
) -> None:
    state = state_of(app)
    job_id = queued_job(state, code="DEAD-1", metadata={"who": "first"})
    state.jobs.join(job_id, SubscriberRequest("http://127.0.0.1/b", None, {"who": "second"}))
    record_failed(
        state, job_id, status="failed", error_message="disk full", error_code="storage_error"
    )
    output = _run(app, "failed")
    assert f"{job_id}  DEAD-1/minatBakatUmum  storage_error" in output
    assert "disk full" in output

    output = _run(app, "failed", "--requeue", job_id)
    new_id = output.strip().splitlines()[-1].rsplit(" ", 1)[-1]
    assert output.strip().endswith(f"{job_id} submitted again as {new_id}")
    fresh = state.jobs.get(new_id)
    assert fresh is not None and (fresh.status, fresh.code) == ("queued", "DEAD-1")
    with state.jobs.engine.connect() as conn:
        assert [s.metadata for s in subscribers_of(conn, new_id)] == [
            {"who": "first"},
            {"who": "second"},
        ]
    assert state.jobs.get(job_id).status == "failed"  # type: ignore[union-attr]  # kept
    bad = app.test_cli_runner().invoke(pdfqueue_cli, ["failed", "--requeue", new_id])
    assert bad.exit_code != 0 and "not a failed job" in bad.output


def test_failed_all_requeues_every_listed_dead_letter(app: Flask) -> None:
    state = state_of(app)
    dead = [queued_job(state, code=f"DEAD-ALL-{n}") for n in range(2)]
    for job_id in dead:
        record_failed(state, job_id, status="failed", error_message="x", error_code="storage_error")
    output = _run(app, "failed", "--all")
    assert all(f"{job_id} submitted again as pdf_" in output for job_id in dead)
    assert state.queue.waiting() == 2  # the two new jobs (the originals never reached Redis)
    assert len([line for line in output.splitlines() if "submitted again" in line]) == 2


def test_failed_purge_forgets_old_failures_only(app: Flask) -> None:
    state = state_of(app)
    old, recent = (queued_job(state, code=c) for c in ("OLD-1", "NEW-1"))
    for job_id in (old, recent):
        record_failed(
            state, job_id, status="failed", error_message="x", error_code="template_error"
        )
    _age(state, old, 40)
    assert "failed jobs forgotten: 1" in _run(app, "failed", "--purge", "--older-than", "30d")
    assert state.jobs.get(old) is None
    assert state.jobs.get(recent) is not None
    assert state.deliveries.for_job(old) == []
    refused = app.test_cli_runner().invoke(pdfqueue_cli, ["failed", "--purge"])
    assert refused.exit_code != 0 and "--older-than" in refused.output


def test_cleanup_forgets_old_finished_jobs_and_their_pdfs(app: Flask) -> None:
    state = state_of(app)
    old = _completed(state, "CLEAN-1", days_ago=100)
    recent = _completed(state, "CLEAN-2", days_ago=1)
    active = queued_job(state, code="CLEAN-3")
    old_pdf = state.storage.local_path(f"{old}.pdf")
    assert old_pdf is not None and old_pdf.exists()

    assert "jobs forgotten: 1, PDF files removed: 1" in _run(app, "cleanup")

    assert state.jobs.get(old) is None and not old_pdf.exists()
    assert state.jobs.get(recent) is not None and state.storage.local_path(f"{recent}.pdf")
    assert state.jobs.get(active) is not None


def test_regenerate_renders_a_products_reports_again_at_low_priority(app: Flask) -> None:
    state = state_of(app)
    for code in ("REGEN-1", "REGEN-2"):
        _completed(state, code)
    queued_job(state, code="REGEN-3")  # no PDF yet: not regenerated
    dry = _run(app, "regenerate", "--product", "minatBakatUmum", "--dry-run")
    assert "reports of minatBakatUmum: 2" in dry and "REGEN-1" in dry and "REGEN-3" not in dry
    assert state.queue.waiting() == 0

    def finish_them() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and state.queue.queues["low"].count < 2:
            time.sleep(0.1)
        for job_id in state.queue.queues["low"].get_job_ids():
            state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key="k")

    worker = threading.Thread(target=finish_them)
    worker.start()
    output = _run(
        app, "regenerate", "--product", "minatBakatUmum", "--code", "REGEN-1", "--code", "REGEN-2"
    )
    worker.join()
    assert "submitted: 2" in output
    assert output.strip().endswith("completed 2")


def test_cleanup_forgets_settled_alert_events_of_the_same_age(app: Flask) -> None:
    state = state_of(app)
    for webhook_id in ("alert_old", "alert_new", "alert_owed"):
        assert state.deliveries.owe_event(webhook_id, "alert", "http://127.0.0.1/a", "{}")
    with state.jobs.engine.begin() as conn:
        table = pdf_webhook_deliveries.c
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(table.webhook_id.in_(["alert_old", "alert_owed"]))
            .values(updated_at=utcnow() - timedelta(days=100))
        )
        conn.execute(
            update(pdf_webhook_deliveries)
            .where(table.webhook_id.in_(["alert_old", "alert_new"]))
            .values(state="delivered")
        )
    _run(app, "cleanup")
    assert state.deliveries.get("alert_old") is None
    assert state.deliveries.get("alert_new") is not None  # settled recently
    assert state.deliveries.get("alert_owed") is not None  # still owed: never forgotten
    assert state.deliveries.owe_event("alert_new", "alert", "http://x/", "{}") is None
