"""Stats, metrics and alerts against the real worker processes: a rendered job shows in both,
the live workers are seen, and the workers' upkeep judges the alerts by itself."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.ops.alerts import LOCK_KEY
from tests.conftest import WorkerProcess
from tests.integration.helpers import (
    callback_paths,
    new_report,
    settled,
    submit_report,
    wait_until,
)
from tests.receiver import WebhookReceiver
from tests.test_metrics import samples

pytestmark = pytest.mark.integration
STATS = "/api/queue/stats"


def _figures(client: FlaskClient, auth: dict[str, str]) -> tuple[dict[str, Any], Any]:
    stats = client.get(STATS, headers=auth)
    assert stats.status_code == 200, stats.data
    metrics = client.get("/metrics", headers=auth)
    assert metrics.status_code == 200
    return stats.get_json(), samples(metrics.get_data(as_text=True))


def test_a_rendered_job_shows_in_stats_and_metrics(
    client: FlaskClient,
    auth: dict[str, str],
    state: PDFQueueState,
    receiver: WebhookReceiver,
    worker: WorkerProcess,
) -> None:
    stats_before, metrics_before = _figures(client, auth)
    complete, _ = callback_paths()
    document = new_report(state)
    job = submit_report(
        client,
        auth,
        document,
        callback=receiver.url_for(complete),
    )
    settled(state, job["job_id"])

    stats, metrics = _figures(client, auth)

    assert stats["workers"]["render"]["live"] >= 1
    assert stats["workers"]["delivery"]["live"] >= 1
    assert not {a["name"]: a for a in stats["alerts"]}["no_workers"]["firing"]
    assert stats["total"]["completed"] >= stats_before["total"]["completed"] + 1
    assert stats["throughput"]["completed"] >= stats_before["throughput"]["completed"] + 1
    assert stats["durations"]["samples"] >= 1 and stats["durations"]["p50"] > 0
    assert stats["webhooks"]["delivered"] >= stats_before["webhooks"]["delivered"] + 1

    def grew(name: str, labels: tuple[tuple[str, str], ...] = ()) -> float:
        return float(metrics[(name, labels)] - metrics_before[(name, labels)])

    assert grew("pdfqueue_jobs_total", (("status", "queued"),)) >= 1
    assert grew("pdfqueue_jobs_total", (("status", "processing"),)) >= 1
    assert grew("pdfqueue_jobs_total", (("status", "completed"),)) >= 1
    assert grew("pdfqueue_job_duration_seconds_count") >= 1
    assert grew("pdfqueue_webhook_deliveries_total", (("result", "delivered"),)) >= 1
    live = sum(v for (name, _), v in metrics.items() if name == "pdfqueue_workers")
    assert live >= 2


def test_the_workers_judge_the_alerts_with_nobody_reading_stats(
    state: PDFQueueState, worker: WorkerProcess
) -> None:
    state.redis.delete(LOCK_KEY)

    def a_worker_took_its_turn() -> bool:
        owner = state.redis.get(LOCK_KEY)
        return isinstance(owner, bytes) and not owner.startswith(b"metrics:")

    wait_until(a_worker_took_its_turn, timeout=70)  # within a maintenance round
