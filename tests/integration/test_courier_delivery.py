"""The default render worker's job process makes each job's first webhook attempt itself,
on its courier thread: no delivery job, and a slow receiver holds no render."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    assert_one_webhook,
    callback_paths,
    new_report,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

pytestmark = pytest.mark.integration

AUTH = {"X-API-Key": API_KEY}


@dataclass(frozen=True)
class RenderOnly:
    """A render worker of the default kind and no delivery worker."""

    state: PDFQueueState
    client: FlaskClient


@pytest.fixture
def render_only(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[RenderOnly]:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=15)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(stack_settings, state)
    worker = start_worker_process(state, env, tmp_path / "worker.log")
    try:
        yield RenderOnly(state, app.test_client())
    finally:
        stop_worker_process(worker)
        state.redis.flushdb()
        state.close()


def _submit(stack: RenderOnly, receiver: WebhookReceiver) -> tuple[str, str, str]:
    ok_path, failed_path = callback_paths()
    document = new_report(stack.state)
    answer = submit_report(stack.client, AUTH, document, callback=receiver.url_for(ok_path))
    return str(answer["job_id"]), ok_path, failed_path


def test_the_job_process_delivers_the_webhook_without_a_delivery_worker(
    render_only: RenderOnly, receiver: WebhookReceiver
) -> None:
    job_id, ok_path, failed_path = _submit(render_only, receiver)

    [hook] = receiver.wait_for(ok_path, timeout=60)

    payload = verified(hook, render_only.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    assert_one_webhook(receiver, ok_path, failed_path)
    [delivery] = render_only.state.deliveries.for_job(job_id)
    assert (delivery.state, delivery.attempts) == ("delivered", 1)
    assert render_only.state.queue.webhooks.count == 0  # no delivery job was ever needed


def test_a_slow_receiver_holds_no_render(
    render_only: RenderOnly, receiver: WebhookReceiver
) -> None:
    slow_id, slow_path, slow_failed = _submit(render_only, receiver)
    receiver.respond(slow_path, ("delay", 8.0))
    receiver.wait_for(slow_path, timeout=60)  # its answer is 8 s away
    next_id, next_path, next_failed = _submit(render_only, receiver)

    wait_until(lambda: sql_row(render_only.state, next_id)["status"] == "completed", 7)
    # the next report was done while the first POST waited for its answer
    assert [r for r in receiver.answered() if r.path == slow_path] == []

    receiver.wait_for(next_path, timeout=30)
    assert_one_webhook(receiver, slow_path, slow_failed)
    assert_one_webhook(receiver, next_path, next_failed)
    assert sql_row(render_only.state, slow_id)["status"] == "completed"
