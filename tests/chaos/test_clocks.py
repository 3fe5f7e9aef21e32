"""Workers whose clocks are 30 s ahead and behind (libfaketime): health stays true, no
second scheduler takes a live one's place, and the jobs go through, announced once."""

from __future__ import annotations

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
    assert_one_webhook,
    callback_paths,
    new_report,
    settled,
    sql_row,
    submit_report,
    wait_until,
)
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

AUTH = {"X-API-Key": API_KEY}
#: libfaketime (Debian's faketime package), preloaded by ``env``, which keeps the pid RQ
#: registers (the ``faketime`` command would not).
FAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), None)
#: Three rounds of the workers' maintenance, which is when a lock would be cleared.
WATCH_SECONDS = 50


def _skewed(offset: str) -> list[str]:
    assert FAKETIME is not None
    return ["env", f"LD_PRELOAD={FAKETIME}", f"FAKETIME={offset}"]


@dataclass(frozen=True)
class Stack:
    state: PDFQueueState
    client: FlaskClient


@pytest.fixture
def stack(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Stack]:
    if FAKETIME is None:
        pytest.skip("faketime is not installed (`make test` installs Debian's faketime as root)")
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=3)
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.redis.flushdb()
    env = isolated_worker_env(stack_settings, state)
    processes = [start_worker_process(state, env, tmp_path / "on-time.log")]
    try:  # the on-time worker holds the render queues' scheduler locks first
        wait_until(lambda: all(_owner(state, q.name) for q in state.queue.ordered), timeout=30)
        processes.append(
            start_worker_process(state, env, tmp_path / "ahead.log", prefix=_skewed("+30s"))
        )
        processes.append(
            start_worker_process(
                state, env, tmp_path / "behind.log", "delivery-worker", prefix=_skewed("-30s")
            )
        )
        # the delivery worker takes the webhook queue's lock once it is up: watch from then on
        wait_until(lambda: all(_owner(state, q.name) for q in state.queue.all), timeout=60)
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
    state = stack.state
    owners = {q.name: _owner(state, q.name) for q in state.queue.all}
    wait_until(lambda: stack.client.get("/api/health").status_code == 200, timeout=60)
    jobs: list[tuple[str, str, str]] = []
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        health = stack.client.get("/api/health")
        assert health.status_code == 200, health.get_json()
        assert {q.name: _owner(state, q.name) for q in state.queue.all} == owners
        if len(jobs) < 4:
            ok_path, failed_path = callback_paths()
            document = new_report(state)
            answer = submit_report(stack.client, AUTH, document, callback=receiver.url_for(ok_path))
            jobs.append((str(answer["job_id"]), ok_path, failed_path))
        time.sleep(2)
    for job_id, ok_path, failed_path in jobs:
        settled(state, job_id, timeout=60)
        assert sql_row(state, job_id)["status"] == "completed"
        assert_one_webhook(receiver, ok_path, failed_path, settle=0)
