"""MongoDB stopped for three minutes under traffic (issue 18's outage mode, on the real stack).

Jobs that finished before the outage are announced while MongoDB is down (delivery
needs only SQL and Redis). Jobs submitted during it are accepted, wait (the render
worker pauses, no retry is spent, though the retry intervals are two seconds) and
complete once it is back, each announced once. Every report document catches up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from tests.conftest import (
    API_KEY,
    isolated_worker_env,
    make_isolated_app,
    start_worker_process,
    stop_worker_process,
)
from tests.integration.helpers import (
    callback_paths,
    new_report,
    pdf_generation,
    settled,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer, start_secantus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

AUTH = {"X-API-Key": API_KEY}
OUTAGE_SECONDS = 180


@dataclass
class Stack:
    state: PDFQueueState
    client: FlaskClient
    home: Path
    mongo: RunningServer


@pytest.fixture
def stack(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Stack]:
    mongo = start_secantus(tmp_path / "mongo")
    settings = {
        **stack_settings,
        "PDFQUEUE_MONGO_URL": mongo.url,
        "PDFQUEUE_RETRY_INTERVALS": "2,2",  # without outage mode, quick tries and out
        "PDFQUEUE_WEBHOOK_RETRY_SCHEDULE": "10,10,10,10,10,10",
        "PDFQUEUE_RECONCILE_INTERVAL": "5",
    }
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=6)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(settings, state)
    worker = start_worker_process(state, env, tmp_path / "worker.log")
    deliveries = start_worker_process(state, env, tmp_path / "delivery.log", "delivery-worker")
    stack = Stack(state, app.test_client(), tmp_path, mongo)
    try:
        yield stack
    finally:
        stop_worker_process(worker)
        stop_worker_process(deliveries)
        state.close()
        stack.mongo.stop()


def _submit(stack: Stack, receiver: WebhookReceiver, document: dict[str, Any]) -> tuple[str, str]:
    """The job id, and the path its success webhook goes to (failures: ``pdf-failed``)."""
    ok_path, _ = callback_paths()
    job_id = submit_report(stack.client, AUTH, document, callback=receiver.url_for(ok_path))[
        "job_id"
    ]
    return str(job_id), ok_path


def test_a_three_minute_mongodb_outage_fails_no_job_and_stops_no_webhook(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    state = stack.state
    before = [new_report(state) for _ in range(4)]
    during = [new_report(state) for _ in range(6)]  # their data is there; MongoDB will not be

    # Four jobs finish before the outage; their receiver is away (503) until it begins.
    finished = [_submit(stack, receiver, document) for document in before]
    for _, path in finished:
        receiver.respond(path, 503)
    wait_until(lambda: all(sql_row(state, j)["status"] == "completed" for j, _ in finished), 120)

    stack.mongo.stop()
    down_at = time.monotonic()
    waiting = [_submit(stack, receiver, during[0]), _submit(stack, receiver, during[1])]

    # Announced while MongoDB is down: delivery needs none of it.
    for _, path in finished:
        [_, hook] = receiver.wait_for(path, count=2, timeout=60)
        assert hook.at > down_at
    # The render worker met the outage, recorded it, and pauses: health says so.
    wait_until(lambda: "down_seconds" in _health(stack)["mongo"], timeout=60)

    for document in during[2:]:  # traffic goes on
        time.sleep((OUTAGE_SECONDS - 60) / 4)
        waiting.append(_submit(stack, receiver, document))
    for job_id, _ in waiting:
        row = sql_row(state, job_id)
        assert (row["status"], row["retry_count"]) == ("queued", 0), row
    assert _health(stack)["mongo"]["down_seconds"] >= OUTAGE_SECONDS - 70
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    assert stack.mongo.process.poll() is not None  # still down: three minutes

    stack.mongo = start_secantus(stack.home / "mongo", port=stack.mongo.port)
    up_at = time.monotonic()
    for job_id, path in waiting:
        [hook] = receiver.wait_for(path, timeout=120)
        assert hook.at > up_at
        payload = verified(hook, state.settings.webhook_secret)
        assert (payload["job_id"], payload["status"]) == (job_id, "completed")
        settled(state, job_id, timeout=60)
        row = sql_row(state, job_id)
        assert (row["status"], row["retry_count"]) == ("completed", 0)
    for _, path in [*finished, *waiting]:
        failed = path.replace("pdf-complete", "pdf-failed")
        assert receiver.requests(failed) == []
        assert len([r for r in receiver.answered() if r.path.startswith(path)]) == 1
    codes = [document["code"] for document in before + during]
    jobs = [job_id for job_id, _ in finished + waiting]
    wait_until(lambda: all(map(_mirrored, [state] * len(jobs), codes, jobs)), timeout=60)
    wait_until(lambda: "down_seconds" not in _health(stack)["mongo"], timeout=30)


def _health(stack: Stack) -> dict[str, Any]:
    checks: dict[str, Any] = stack.client.get("/api/health").get_json()["checks"]
    return checks


def _mirrored(state: PDFQueueState, code: str, job_id: str) -> bool:
    generation = pdf_generation(state, code)
    return generation.get("job_id") == job_id and generation.get("status") == "completed"
