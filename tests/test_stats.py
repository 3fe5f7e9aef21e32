"""``GET /api/queue/stats`` and the figures behind it, on a real Redis and every SQL backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, insert

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.ops.stats import percentile
from flask_pdfqueue.queue.queues import AVERAGE_KEY
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.records.sql.figures import (
    delivery_counts,
    duration_histogram,
    finished_since,
    job_counts,
    recent_durations,
)
from flask_pdfqueue.records.sql.job_rows import pdf_job_results
from flask_pdfqueue.timestamps import utcnow
from tests.conftest import API_KEY, make_app, make_isolated_app
from tests.scripted_run import ScriptedRun, script_run
from tests.servers import RunningServer, free_port

STATS = "/api/queue/stats"
AUTH = {"X-API-Key": API_KEY}
#: A Redis database no other test module uses.
REDIS_DB = 2


@pytest.fixture
def stats_app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    """The test stack with a Redis db and SQLite of its own, where no worker runs."""
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=REDIS_DB)
    yield app
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    state.close()


def test_the_figures_of_a_scripted_queue(stats_app: Flask) -> None:
    state: PDFQueueState = stats_app.extensions["pdfqueue"]
    run = script_run(state)

    response = stats_app.test_client().get(STATS, headers=AUTH)

    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["window_seconds"] == 3600
    for figures in body["queues"]:
        assert figures == {
            "queue": figures["queue"],
            "waiting": run.waiting[figures["queue"]],
            **{s: run.by_queue[figures["queue"]].get(s, 0) for s in _STATUSES},
        }
    assert [q["queue"] for q in body["queues"]] == ["pdf-high", "pdf-normal", "pdf-low"]
    assert body["total"] == {
        "queue": "total",
        "waiting": sum(run.waiting.values()),
        **{s: run.current.get(s, 0) for s in _STATUSES},
    }
    assert body["throughput"] == {
        "window_seconds": 3600,
        "per_hour": sum(run.finished_in_window.values()),
        **run.finished_in_window,
    }
    assert _durations(body["durations"]) == _expected_durations(run)
    state.redis.delete(AVERAGE_KEY)  # the estimates' average is the one shown here
    assert state.queue.average_job_seconds() == pytest.approx(
        body["durations"]["average"], abs=1e-3
    )
    completed, failed = run.finished_in_window["completed"], run.finished_in_window["failed"]
    assert body["failure_rate"] == pytest.approx(failed / (completed + failed))
    assert body["success_rate"] == pytest.approx(completed / (completed + failed))
    assert body["webhooks"] == {"queue": "pdf-webhooks", "waiting": 0, **run.deliveries}

    workers = body["workers"]
    assert workers["render"] == {"live": 2, "busy": 1, "idle": 1, "stale": 1}
    assert workers["delivery"] == {"live": 1, "busy": 0, "idle": 1, "stale": 0}
    by_name = {w["name"]: w for w in workers["workers"]}
    assert by_name["render-busy"]["state"] == "busy" and by_name["render-busy"]["live"]
    assert by_name["render-busy"]["queues"] == ["pdf-high", "pdf-normal", "pdf-low"]
    assert 0.5 < by_name["render-busy"]["heartbeat_age_seconds"] < 30
    assert not by_name["render-dead"]["live"]
    assert by_name["render-dead"]["heartbeat_age_seconds"] >= 300
    assert by_name["delivery-idle"]["role"] == "delivery"

    alerts = {a["name"]: a for a in body["alerts"]}
    assert list(alerts) == ["queue_length", "failure_rate", "avg_seconds", "no_workers", "outage"]
    assert alerts["failure_rate"]["firing"]  # 1 of 5 > 5 %
    assert alerts["failure_rate"]["threshold"] == 0.05
    assert alerts["failure_rate"]["since"] is not None
    assert not alerts["queue_length"]["firing"] and alerts["queue_length"]["value"] == 3
    assert not alerts["avg_seconds"]["firing"]
    assert not alerts["no_workers"]["firing"] and alerts["no_workers"]["value"] == 1
    assert not alerts["outage"]["firing"] and alerts["outage"]["value"] == 0


_STATUSES = ("queued", "processing", "completed", "failed", "cancelled")


def _durations(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        k: pytest.approx(v, abs=0.01) if isinstance(v, float) else v for k, v in figures.items()
    }


def _expected_durations(run: ScriptedRun) -> dict[str, Any]:
    seconds = run.window_seconds
    return {
        "window_seconds": 3600,
        "samples": len(seconds),
        "average": sum(seconds) / len(seconds),
        "p50": percentile(seconds, 50),
        "p95": percentile(seconds, 95),
        "p99": percentile(seconds, 99),
    }


def test_an_empty_queue_has_no_rates_and_no_durations(stats_app: Flask) -> None:
    body = stats_app.test_client().get(STATS, headers=AUTH).get_json()
    assert body["throughput"]["per_hour"] == 0
    assert body["durations"]["samples"] == 0
    assert body["durations"]["p50"] is None and body["durations"]["average"] is None
    assert body["success_rate"] is None and body["failure_rate"] is None
    alerts = {a["name"]: a for a in body["alerts"]}
    assert alerts["failure_rate"]["value"] is None and not alerts["failure_rate"]["firing"]
    assert alerts["no_workers"]["firing"]  # nobody works this queue
    assert alerts["no_workers"]["message"] == "no live render or delivery worker"


def test_stats_need_an_api_key(stats_app: Flask) -> None:
    client = stats_app.test_client()
    response = client.get(STATS)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get(STATS, headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


def test_stats_answer_503_while_redis_is_down(
    stack_settings: dict[str, str], tmp_path: Path
) -> None:
    broken = {**stack_settings, "PDFQUEUE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}
    app = make_app(broken, tmp_path)
    upgrade(app.extensions["pdfqueue"].jobs.engine)
    response = app.test_client().get(STATS, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.get_json()["error"]["code"] == "service_unavailable"


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([], 50, None),
        ([7.0], 99, 7.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 95, 4.0),
    ],
)
def test_percentiles_are_nearest_rank(
    values: list[float], p: float, expected: float | None
) -> None:
    assert percentile(values, p) == expected


def test_sql_figures_on_every_backend(sql_url: str) -> None:
    """Durations are computed in SQL, in each dialect's own spelling: the same numbers."""
    engine = create_engine(sql_url)
    try:
        upgrade(engine)
        now = utcnow().replace(microsecond=250_000)
        rows = [  # (status, priority, ended seconds ago, seconds taken)
            ("completed", "normal", 60, 2.5),
            ("completed", "normal", 120, 30.25),
            ("completed", "high", 600, 400.0),
            ("completed", "low", 7200, 90.0),
            ("failed", "normal", 300, 8.0),
            ("cancelled", "low", 30, None),
            ("processing", "normal", None, None),
            ("queued", "high", None, None),
        ]
        with engine.begin() as conn:
            for number, (status, priority, ago, seconds) in enumerate(rows):
                ended = None if ago is None else now - timedelta(seconds=ago)
                started = (
                    None if ended is None or seconds is None else ended - timedelta(seconds=seconds)
                )
                if status == "processing":
                    started = now
                conn.execute(
                    insert(pdf_job_results).values(
                        job_id=f"j{number}",
                        code="C",
                        product_id="P",
                        status=status,
                        priority=priority,
                        created_at=now - timedelta(hours=3),
                        started_at=started,
                        completed_at=ended,
                    )
                )
        counts = job_counts(engine)
        assert counts.total == 8 and counts.ever_started == 6
        assert counts.status("completed") == 4 and counts.status("completed", "normal") == 2
        assert counts.status("queued", "high") == 1 and counts.status("queued", "low") == 0

        hour = finished_since(engine, now - timedelta(hours=1))
        assert hour.counts == {"completed": 3, "failed": 1, "cancelled": 1}
        assert hour.average_seconds == pytest.approx((2.5 + 30.25 + 400) / 3, abs=1e-3)
        assert hour.failure_rate == pytest.approx(0.25)
        durations = recent_durations(engine, now - timedelta(hours=1), limit=2)
        assert durations == [pytest.approx(2.5, abs=1e-3), pytest.approx(30.25, abs=1e-3)]

        histogram = duration_histogram(engine, (1.0, 2.5, 30.0, 60.0, 300.0))
        assert histogram.cumulative == (0, 1, 1, 2, 3)
        assert histogram.count == 4
        assert histogram.total_seconds == pytest.approx(2.5 + 30.25 + 400 + 90, abs=1e-3)
        assert delivery_counts(engine) == {"pending": 0, "sending": 0, "delivered": 0, "failed": 0}
    finally:
        engine.dispose()
