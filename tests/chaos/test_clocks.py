"""Workers whose clocks are 30 s ahead and behind (libfaketime): health stays true, no
second scheduler takes a live one's place, and the jobs go through, announced once."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rq.scheduler import RQScheduler

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
    settled,
    sql_row,
    submit_report,
    wait_until,
)
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer
from tests.skewed_clock import skewed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

AUTH = {"X-API-Key": API_KEY}
#: Three rounds of the workers' maintenance, which is when a lock would be cleared.
WATCH_SECONDS = 50
#: What RQ adds to a retry's wait: its scheduler's 1 s round, whole seconds, a claim.
SCHEDULE_SLACK = 3.0


@dataclass(frozen=True)
class Stack:
    state: PDFQueueState
    client: FlaskClient


@pytest.fixture
def stack(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Stack]:
    ahead, behind = skewed("+30s"), skewed("-30s")
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=3)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    env = isolated_worker_env(stack_settings, state)
    processes = [start_worker_process(state, env, tmp_path / "on-time.log")]
    try:  # the on-time worker holds the render queues' scheduler locks first
        wait_until(lambda: all(_owner(state, q.name) for q in state.queue.ordered), timeout=30)
        processes.append(start_worker_process(state, env, tmp_path / "ahead.log", prefix=ahead))
        processes.append(
            start_worker_process(
                state, env, tmp_path / "behind.log", "delivery-worker", prefix=behind
            )
        )
        # the delivery worker behind takes the webhook queue's scheduler lock: the one ahead
        # (started once it has) schedules retries for a scheduler a minute behind its clock
        wait_until(lambda: all(_owner(state, q.name) for q in state.queue.all), timeout=60)
        processes.append(
            start_worker_process(
                state, env, tmp_path / "ahead-delivery.log", "delivery-worker", prefix=ahead
            )
        )
        yield Stack(state, app.test_client())
    finally:
        for process in processes:
            stop_worker_process(process)
        state.close()


def _owner(state: PDFQueueState, queue_name: str) -> str | None:
    owner = state.redis.get(RQScheduler.get_locking_key(queue_name))
    return owner.decode() if isinstance(owner, bytes) else owner


def test_clocks_30_seconds_apart_keep_health_one_scheduler_and_every_job(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    """Each job's first two webhook attempts fail: the retries, scheduled by either delivery
    worker (they take turns) and woken by the scheduler of the one behind, come on schedule
    (1 s ± 20 %), not a minute late or early."""
    state = stack.state
    wait_until(lambda: stack.client.get("/api/health").status_code == 200, timeout=60)
    owners = {q.name: _owner(state, q.name) for q in state.queue.all}
    jobs: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        health = stack.client.get("/api/health")
        assert health.status_code == 200, health.get_json()
        assert {q.name: _owner(state, q.name) for q in state.queue.all} == owners
        if len(jobs) < 6:
            ok_path, failed_path = callback_paths()
            receiver.respond(ok_path, 503, 503)
            document = new_report(state)
            answer = submit_report(stack.client, AUTH, document, callback=receiver.url_for(ok_path))
            jobs.append((str(answer["job_id"]), ok_path, failed_path))
        time.sleep(2)
    for job_id, ok_path, failed_path in jobs:
        settled(state, job_id, timeout=60)
        assert sql_row(state, job_id)["status"] == "completed"
        attempts = receiver.wait_for(ok_path, count=3, timeout=30)
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(attempts)]
        assert all(gap < SCHEDULE_SLACK + 1.2 for gap in gaps), (job_id, gaps)
        assert receiver.requests(failed_path) == []
    time.sleep(2)  # no third attempt: each retry was delivered once
    assert all(len(receiver.requests(ok_path)) == 3 for _, ok_path, _ in jobs)
