"""SQL away at the terminal transition: the stored PDF is kept, the transition is retried,
and the report is rendered once (the job function run in this process, real servers)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.records.sql import JobStore
from tests.conftest import make_isolated_app
from tests.factories import queued_job, state_of
from tests.integration.helpers import new_report
from tests.servers import RunningServer
from workers.pdf_worker import generate_pdf_job


class _SQLBlinks(JobStore):
    """The job store, except that the terminal transition meets SQL away ``blinks`` times."""

    def __init__(self, real: JobStore, blinks: int) -> None:
        super().__init__(real.engine)
        self.blinks = blinks
        self.tries = 0

    def complete(self, job_id: str, **values: Any) -> Any:
        self.tries += 1
        if self.tries <= self.blinks:
            raise OperationalError("UPDATE pdf_job_results", {}, Exception("server closed"))
        return super().complete(job_id, **values)


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=4)
    with app.app_context():
        yield app
    state_of(app).close()


def test_a_stored_pdf_waits_for_sql_to_take_its_outcome(app: Flask) -> None:
    state = state_of(app)
    document = new_report(state)
    job_id = queued_job(state, code=document["code"])
    blinking = _SQLBlinks(state.jobs, blinks=2)
    app.extensions["pdfqueue"] = dataclasses.replace(state, jobs=blinking)
    try:
        generate_pdf_job(job_id)
    finally:
        app.extensions["pdfqueue"] = state

    assert blinking.tries == 3
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.storage_key) == (
        "completed",
        0,
        f"{job_id}.pdf",
    )
    pdf = Path(state.settings.resolved_storage_dir) / f"{job_id}.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")
    [delivery] = state.deliveries.for_job(job_id)
    assert json.loads(delivery.payload)["status"] == "completed"


def test_sql_away_for_longer_fails_the_run_with_the_pdf_kept(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: PDFQueueState = state_of(app)
    document = new_report(state)
    job_id = queued_job(state, code=document["code"])
    monkeypatch.setattr("flask_pdfqueue.steps.record.TRANSITION_PATIENCE", 1.0)
    app.extensions["pdfqueue"] = dataclasses.replace(state, jobs=_SQLBlinks(state.jobs, 99))
    try:
        with pytest.raises(OperationalError):
            generate_pdf_job(job_id)
    finally:
        app.extensions["pdfqueue"] = state
    assert (Path(state.settings.resolved_storage_dir) / f"{job_id}.pdf").exists()
    assert state.jobs.get(job_id).status == "processing"  # type: ignore[union-attr]
