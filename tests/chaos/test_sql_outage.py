"""PostgreSQL stopped for a minute under traffic: submits answer 503 with Retry-After, and
nothing accepted before is lost: every job completes, announced once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.records.migrations import upgrade
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.conftest import (
    API_KEY,
    isolated_worker_env,
    make_app,
    start_worker_process,
    stop_worker_process,
)
from tests.integration.helpers import (
    assert_one_webhook,
    callback_paths,
    new_report,
    settled,
    sql_row,
    verified,
)
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer, ServerUnavailable
from tests.sql_servers import restart_postgres, start_postgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

AUTH = {"X-API-Key": API_KEY}
OUTAGE_SECONDS = 60
SUBMIT = "/api/reports/generate-async"


@dataclass
class Stack:
    state: PDFQueueState
    client: FlaskClient
    postgres: RunningServer


@pytest.fixture
def stack(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Stack]:
    try:
        postgres = start_postgres(tmp_path / "pg")
    except ServerUnavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    settings = {
        **stack_settings,
        "PDFQUEUE_REDIS_URL": redis_server.url.rsplit("/", 1)[0] + "/2",
        "PDFQUEUE_SQL_URL": postgres.url,
        "PDFQUEUE_MONGO_DB": "sql-outage",
        "PDFQUEUE_RECONCILE_INTERVAL": "5",
        "PDFQUEUE_WEBHOOK_RETRY_SCHEDULE": "5,5,5,5,5,5,5,5,5,5,5,5",
    }
    app = make_app(settings, tmp_path)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    upgrade(state.jobs.engine)
    state.documents.seed(sample_documents())
    env = isolated_worker_env(settings, state)
    workers = [
        start_worker_process(state, env, tmp_path / "worker.log"),
        start_worker_process(state, env, tmp_path / "delivery.log", "delivery-worker"),
    ]
    stack = Stack(state, app.test_client(), postgres)
    try:
        yield stack
    finally:
        for worker in workers:
            stop_worker_process(worker)
        state.close()
        stack.postgres.stop()


def test_a_minute_without_postgresql_loses_no_accepted_job(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    state = stack.state
    accepted: list[tuple[str, str, str]] = []

    def submit() -> Any:
        ok_path, failed_path = callback_paths()
        document = new_report(state)
        response = stack.client.post(
            SUBMIT,
            json={
                "code": document["code"],
                "productId": document["product_id"],
                "callback": receiver.url_for(ok_path),
            },
            headers=AUTH,
        )
        if response.status_code == 202:
            accepted.append((response.get_json()["job_id"], ok_path, failed_path))
        return response

    for _ in range(4):  # accepted, and in flight when PostgreSQL goes
        assert submit().status_code == 202
    stack.postgres.kill()
    down_at = time.monotonic()
    refused = 0
    while time.monotonic() - down_at < OUTAGE_SECONDS:
        response = submit()
        assert response.status_code == 503, response.get_json()
        assert response.get_json()["error"]["code"] == "service_unavailable"
        assert response.headers["Retry-After"].isdigit()
        refused += 1
        time.sleep(5)
    stack.postgres = restart_postgres(stack.postgres)
    for _ in range(2):  # and afterwards, accepted again
        assert submit().status_code == 202

    assert refused >= 5 and len(accepted) == 6
    for job_id, ok_path, failed_path in accepted:
        [hook] = receiver.wait_for(ok_path, timeout=180)
        payload = verified(hook, state.settings.webhook_secret)
        assert (payload["job_id"], payload["status"]) == (job_id, "completed")
        settled(state, job_id, timeout=60)
        assert sql_row(state, job_id)["status"] == "completed"
        assert_one_webhook(receiver, ok_path, failed_path, settle=0)
