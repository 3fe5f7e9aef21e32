"""Outages against the real servers: a run that meets one waits uncounted; past the grace
the job fails with ``dependency_unavailable``; health, metrics and alerts name it."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.errors import DependencyUnavailable
from flask_pdfqueue.jobs.attempts import settle_failed_run
from flask_pdfqueue.jobs.outages import (
    KEY,
    PROBE_SECONDS,
    answers,
    open_outages,
    report_down,
    report_up,
)
from flask_pdfqueue.ops.alerts import judge_outages
from flask_pdfqueue.records.mongo import ReportDocuments
from flask_pdfqueue.timestamps import redis_now
from tests.conftest import make_isolated_app
from tests.factories import processing_job, state_of
from tests.servers import RunningServer, free_port

GRACE = 600


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    app = make_isolated_app(
        {**stack_settings, "PDFQUEUE_OUTAGE_GRACE": str(GRACE)}, redis_server, tmp_path, redis_db=7
    )
    state_of(app).redis.flushdb()
    with app.app_context():
        yield app
    state_of(app).close()


def _mongo_down() -> DependencyUnavailable:
    return DependencyUnavailable("mongo", "MongoDB did not answer")


def _without_mongo(state: PDFQueueState) -> PDFQueueState:
    """The state as a worker sees it while MongoDB is down (its probe gets no answer)."""
    gone = ReportDocuments(
        f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        database="workflow",
        collection="psikotes_v2",
        timeout_ms=300,
    )
    return dataclasses.replace(state, documents=gone)


def test_a_run_that_meets_an_outage_waits_without_spending_a_retry(app: Flask) -> None:
    state = state_of(app)
    job_id = processing_job(state)
    settle_failed_run(_without_mongo(state), job_id, job_id, _mongo_down())

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count, record.error_code) == (
        "queued",
        0,
        "dependency_unavailable",
    )
    assert record.error_message == "waiting: MongoDB did not answer"
    assert record.rq_job_id is not None and record.rq_job_id.startswith(f"{job_id}-w")
    assert state.queue.queues["normal"].scheduled_job_registry.get_job_ids() == [record.rq_job_id]
    assert state.deliveries.for_job(job_id) == []  # nothing announced: the job is not over
    [outage] = open_outages(state.redis)
    assert (outage.dependency, outage.reason) == ("mongo", "MongoDB did not answer")
    # A second run meeting it keeps the outage's start.
    settle_failed_run(_without_mongo(state), job_id, record.rq_job_id, _mongo_down())
    assert open_outages(state.redis)[0].since == outage.since
    assert state.jobs.get(job_id).retry_count == 0  # type: ignore[union-attr]


def test_past_the_grace_the_job_fails_with_dependency_unavailable(app: Flask) -> None:
    state = state_of(app)
    job_id = processing_job(state)
    long_ago = redis_now(state.redis) - timedelta(seconds=GRACE + 1)
    state.redis.hset(KEY.format(dependency="mongo"), "since", long_ago.timestamp())
    settle_failed_run(_without_mongo(state), job_id, job_id, _mongo_down())

    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.error_code) == ("failed", "dependency_unavailable")
    [delivery] = state.deliveries.for_job(job_id)
    payload = json.loads(delivery.payload)
    assert (payload["status"], payload["error_code"], payload["retryable"]) == (
        "failed",
        "dependency_unavailable",
        True,
    )


def test_a_dependency_that_answers_the_probe_had_no_outage_the_failure_is_the_jobs(
    app: Flask,
) -> None:
    # A full disk: the write failed, yet the folder answers the probe. Waiting uncounted
    # would retry the job for ever; it is retried and counted like any failure instead.
    state = state_of(app)
    job_id = processing_job(state)
    settle_failed_run(state, job_id, job_id, DependencyUnavailable("storage", "disk full"))
    record = state.jobs.get(job_id)
    assert record is not None
    assert (record.status, record.retry_count) == ("queued", 1)
    assert record.rq_job_id is not None and "-w" not in record.rq_job_id
    assert open_outages(state.redis) == []


def test_health_names_the_dependency_and_how_long_it_is_down(app: Flask) -> None:
    state = state_of(app)
    state.redis.hset(
        KEY.format(dependency="mongo"),
        "since",
        (redis_now(state.redis) - timedelta(seconds=90)).timestamp(),
    )
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    mongo = response.get_json()["checks"]["mongo"]
    assert mongo["ok"] is False and 90 <= mongo["down_seconds"] < 120
    assert report_up(state.redis, "mongo")
    assert not report_up(state.redis, "mongo")
    assert "down_seconds" not in app.test_client().get("/api/health").get_json()["checks"]["mongo"]


def test_probes_say_whether_a_dependency_answers(app: Flask) -> None:
    state = state_of(app)
    assert answers(state, "mongo") and answers(state, "sql") and answers(state, "storage")
    started = time.monotonic()
    assert not answers(_without_mongo(state), "mongo")
    assert time.monotonic() - started < PROBE_SECONDS + 2  # a short timeout, not the client's


def test_the_outage_alert_fires_after_its_threshold() -> None:
    quiet = judge_outages({"mongo": 30.0}, threshold=60)
    assert not quiet.firing and quiet.value == 30.0
    firing = judge_outages({"mongo": 75.0, "storage": 10.0}, threshold=60)
    assert firing.firing and firing.value == 75.0
    assert firing.message == "MongoDB has not answered for 75 s (alert after 60 s)"
    assert not judge_outages({}, threshold=60).firing


def test_report_down_is_one_record_per_dependency(app: Flask) -> None:
    state = state_of(app)
    first = report_down(state.redis, "sql", "the SQL database did not answer")
    report_down(state.redis, "mongo", "MongoDB did not answer")
    assert [o.dependency for o in open_outages(state.redis)] == ["sql", "mongo"]
    assert report_down(state.redis, "sql", "again").since == first.since
