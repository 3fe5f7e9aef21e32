"""SQL away at the terminal transition: the stored PDF is kept, the transition is retried
(in the run, and by the next run, which records the stored PDF instead of rendering it
again); the job function runs in this process, against the real servers."""

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
from flask_pdfqueue.errors import WorkerLost
from flask_pdfqueue.jobs.attempts import settle_failed_run
from flask_pdfqueue.queue.queues import run_id
from flask_pdfqueue.records.sql import JobStore
from flask_pdfqueue.rq_jobs import generate_pdf_job
from flask_pdfqueue.worker.classes import InProcessWorker
from tests.conftest import make_isolated_app
from tests.factories import queued_job, state_of
from tests.integration.helpers import new_report
from tests.servers import RunningServer


class _SQLBlinks(JobStore):
    """The job store, except that the terminal transition meets SQL away ``blinks`` times."""

    def __init__(self, real: JobStore, blinks: int) -> None:
        super().__init__(real.engine, real.event_body, real.clock)
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


def test_sql_away_for_longer_keeps_the_pdf_and_the_next_run_only_records_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    state: PDFQueueState = state_of(app)
    document = new_report(state)
    job_id = queued_job(state, code=document["code"])
    monkeypatch.setattr("flask_pdfqueue.jobs.steps.record.TRANSITION_PATIENCE", 1.0)
    app.extensions["pdfqueue"] = dataclasses.replace(state, jobs=_SQLBlinks(state.jobs, 99))
    try:
        with pytest.raises(OperationalError):
            generate_pdf_job(job_id)
    finally:
        app.extensions["pdfqueue"] = state
    pdf = Path(state.settings.resolved_storage_dir) / f"{job_id}.pdf"
    first_pdf = pdf.read_bytes()
    assert state.jobs.get(job_id).status == "processing"  # type: ignore[union-attr]

    # The run is lost (the reconciler settles it so) and the next one runs under RQ; the
    # report document is gone meanwhile, so a second render could not even load it.
    settle_failed_run(state, job_id, job_id, WorkerLost("the job's run was lost"))
    record = state.jobs.get(job_id)
    assert record is not None and record.rq_job_id == run_id(job_id, 2)
    state.queue.enqueue(job_id, "normal", rq_job_id=record.rq_job_id)
    state.documents.collection.delete_one({"code": document["code"]})
    InProcessWorker(state.queue.ordered, connection=state.redis).work(burst=True)

    done = state.jobs.get(job_id)
    assert done is not None
    assert (done.status, done.retry_count, done.storage_key) == ("completed", 1, f"{job_id}.pdf")
    assert pdf.read_bytes() == first_pdf
    [delivery] = state.deliveries.for_job(job_id)
    assert json.loads(delivery.payload)["status"] == "completed"
