"""``GET /metrics``: Prometheus exposition read from SQL and Redis at scrape time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.ops.metrics import DURATION_BUCKETS, HISTOGRAM_KEY, SETTLED, job_durations
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.records.sql.figures import duration_histogram
from flask_pdfqueue.records.sql.job_rows import pdf_job_results
from flask_pdfqueue.timestamps import utcnow
from tests.conftest import API_KEY, make_app, make_isolated_app
from tests.scripted_run import ScriptedRun, script_run
from tests.servers import RunningServer, free_port
from tests.test_stats import REDIS_DB

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def expected_samples(run: ScriptedRun) -> Samples:
    """The samples the scripted run must give (what the Prometheus test checks too)."""
    expected: Samples = {}
    for status, n in run.reached.items():
        expected[("pdfqueue_jobs_total", (("status", status),))] = n
    for status in ("queued", "processing", "completed", "failed", "cancelled"):
        expected[("pdfqueue_jobs_current", (("status", status),))] = run.current.get(status, 0)
    for queue, n in {**run.waiting, "pdf-webhooks": 0}.items():
        expected[("pdfqueue_queue_depth", (("queue", queue),))] = n
    for bound in DURATION_BUCKETS:
        le = repr(bound)
        expected[("pdfqueue_job_duration_seconds_bucket", (("le", le),))] = sum(
            1 for s in run.completed_seconds if s <= bound
        )
    expected[("pdfqueue_job_duration_seconds_bucket", (("le", "+Inf"),))] = len(
        run.completed_seconds
    )
    expected[("pdfqueue_job_duration_seconds_count", ())] = len(run.completed_seconds)
    expected[("pdfqueue_job_duration_seconds_sum", ())] = sum(run.completed_seconds)
    for result, n in run.deliveries.items():
        expected[("pdfqueue_webhook_deliveries_total", (("result", result),))] = n
    for (state, role), n in run.workers.items():
        expected[("pdfqueue_workers", (("role", role), ("state", state)))] = n
    for backend in ("redis", "sql"):
        expected[("pdfqueue_backend_up", (("backend", backend),))] = 1
    for dependency in ("mongo", "sql", "storage"):
        expected[("pdfqueue_dependency_down_seconds", (("dependency", dependency),))] = 0
    return expected


@pytest.fixture
def metrics_app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=REDIS_DB)
    yield app
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    state.close()


def test_the_metrics_of_a_scripted_queue(metrics_app: Flask) -> None:
    run = script_run(metrics_app.extensions["pdfqueue"])

    response = metrics_app.test_client().get(
        "/metrics", headers={"Authorization": f"Bearer {API_KEY}"}
    )

    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    got = samples(response.get_data(as_text=True))
    expected = expected_samples(run)
    assert {k: pytest.approx(v, abs=0.01) for k, v in got.items()} == expected
    assert "# TYPE pdfqueue_jobs_total counter" in response.get_data(as_text=True)
    assert "# TYPE pdfqueue_job_duration_seconds histogram" in response.get_data(as_text=True)


def test_metrics_need_a_key_unless_public(
    metrics_app: Flask, stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    client = metrics_app.test_client()
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"X-API-Key": API_KEY}).status_code == 200
    assert client.get("/api/metrics", headers={"X-API-Key": API_KEY}).status_code == 404

    public = make_isolated_app(
        {**stack_settings, "PDFQUEUE_METRICS_PUBLIC": "true"},
        redis_server,
        tmp_path / "public",
        redis_db=REDIS_DB,
    )
    try:
        assert public.test_client().get("/metrics").status_code == 200
    finally:
        public.extensions["pdfqueue"].close()


def test_a_scrape_while_redis_is_down_still_has_the_sql_figures(
    stack_settings: dict[str, str], tmp_path: Path
) -> None:
    broken = {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PDFQUEUE_SQL_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",  # no other test's jobs
    }
    app = make_app(broken, tmp_path)
    upgrade(app.extensions["pdfqueue"].jobs.engine)
    response = app.test_client().get("/metrics", headers={"X-API-Key": API_KEY})
    assert response.status_code == 200
    got = samples(response.get_data(as_text=True))
    assert got[("pdfqueue_backend_up", (("backend", "redis"),))] == 0
    assert got[("pdfqueue_backend_up", (("backend", "sql"),))] == 1
    assert got[("pdfqueue_jobs_total", (("status", "queued"),))] == 0
    assert not any(name == "pdfqueue_queue_depth" for name, _ in got)


def test_the_scrape_is_not_rate_limited(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    app = make_isolated_app(
        {**stack_settings, "PDFQUEUE_RATE_LIMIT": "2/minute"},
        redis_server,
        tmp_path,
        redis_db=REDIS_DB,
    )
    try:
        client = app.test_client()
        for _ in range(5):
            assert client.get("/metrics", headers={"X-API-Key": API_KEY}).status_code == 200
    finally:
        app.extensions["pdfqueue"].redis.flushdb()
        app.extensions["pdfqueue"].close()


def test_settled_durations_are_kept_in_redis_and_counted_once(metrics_app: Flask) -> None:
    state: PDFQueueState = metrics_app.extensions["pdfqueue"]
    engine, redis = state.jobs.engine, state.redis
    now = utcnow()
    _completed(state, "old", ended=now - timedelta(hours=2), seconds=30)
    _completed(state, "new", ended=now - timedelta(minutes=1), seconds=400)

    first = job_durations(engine, redis, now)
    assert first.count == 2 and first.total_seconds == pytest.approx(430)
    kept = json.loads(redis.get(HISTOGRAM_KEY) or "")
    assert (kept["count"], kept["upto"]) == (1, (now - SETTLED).isoformat())  # only "old"

    later = now + SETTLED  # "new" has settled meanwhile: folded in, not counted twice
    _completed(state, "newest", ended=later - timedelta(seconds=5), seconds=2)
    second = job_durations(engine, redis, later)
    assert second == duration_histogram(engine, DURATION_BUCKETS)
    assert second.count == 3 and json.loads(redis.get(HISTOGRAM_KEY) or "")["count"] == 2

    # What Redis keeps is built on, never recounted from SQL (here: a count SQL lacks).
    redis.set(HISTOGRAM_KEY, json.dumps({**kept, "count": 99}))
    assert job_durations(engine, redis, later + timedelta(minutes=1)).count == 99 + 1 + 1
    assert json.loads(redis.get(HISTOGRAM_KEY) or "")["count"] == 99 + 1  # "new" folded in

    redis.delete(HISTOGRAM_KEY)  # Redis flushed: all counted again from SQL
    assert job_durations(engine, redis, later) == duration_histogram(engine, DURATION_BUCKETS)


def _completed(state: PDFQueueState, job_id: str, *, ended: datetime, seconds: float) -> None:
    with state.jobs.engine.begin() as conn:
        conn.execute(
            insert(pdf_job_results).values(
                job_id=job_id,
                code=job_id,
                product_id="p",
                status="completed",
                created_at=ended - timedelta(seconds=seconds + 1),
                started_at=ended - timedelta(seconds=seconds),
                completed_at=ended,
            )
        )
