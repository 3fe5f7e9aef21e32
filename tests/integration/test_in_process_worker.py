"""``flask pdfqueue worker --no-fork`` (``PDFQUEUE_WORKER_FORK=false``): every run in the
worker process itself, and still exactly one outcome when that process is killed mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rq.job import Job, JobStatus

from flask_pdfqueue import PDFQueueState
from tests.conftest import (
    API_KEY,
    WorkerProcess,
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
    verified,
    wait_until,
)
from tests.integration.test_worker_lost import slow_report
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

pytestmark = pytest.mark.integration

AUTH = {"X-API-Key": API_KEY}
#: Short, so RQ finds a killed worker's run abandoned soon (the timeout and a minute).
JOB_TIMEOUT = 15


@dataclass(frozen=True)
class Stack:
    state: PDFQueueState
    client: FlaskClient
    env: dict[str, str]
    home: Path

    def worker(self, name: str) -> tuple[WorkerProcess, subprocess.Popen[bytes]]:
        log = self.home / f"{name}.log"
        process = start_worker_process(self.state, self.env, log)
        return WorkerProcess(process.pid, log), process


@pytest.fixture(scope="module")
def stack(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("in-process")
    settings = {
        **stack_settings,
        "PDFQUEUE_WORKER_FORK": "false",
        "PDFQUEUE_JOB_TIMEOUT": str(JOB_TIMEOUT),
    }
    app = make_isolated_app(settings, redis_server, home, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(settings, state)
    deliveries = start_worker_process(state, env, home / "delivery.log", "delivery-worker")
    try:
        yield Stack(state, app.test_client(), env, home)
    finally:
        stop_worker_process(deliveries)
        state.close()


def test_jobs_run_in_the_worker_process_with_one_webhook_each(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    worker, process = stack.worker("worker-a")
    try:
        document = new_report(stack.state)
        ok_path, failed_path = callback_paths()
        job_id = submit_report(
            stack.client,
            AUTH,
            document,
            callback=receiver.url_for(ok_path),
        )["job_id"]
        [hook] = receiver.wait_for(ok_path, timeout=90)
        settled(stack.state, job_id)
        assert worker.horse_pid() is None  # nothing was forked
    finally:
        stop_worker_process(process)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    row = sql_row(stack.state, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 0)
    download = stack.client.get(f"/api/jobs/{job_id}/download", headers=AUTH)
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    log = worker.log_path.read_text()
    assert f"job {job_id} rendering" in log and "killed horse" not in log
    assert_one_webhook(receiver, ok_path, failed_path)


def test_a_worker_killed_mid_run_has_its_job_retried_elsewhere_and_finished_once(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    document = slow_report(stack.state)
    ok_path, failed_path = callback_paths()
    doomed, doomed_process = stack.worker("worker-doomed")
    try:
        job_id = submit_report(
            stack.client,
            AUTH,
            document,
            callback=receiver.url_for(ok_path),
        )["job_id"]
        wait_until(lambda: sql_row(stack.state, job_id)["stage"] == "rendering", timeout=60)
        os.kill(doomed.pid, signal.SIGKILL)  # the worker itself: it was running the job
        doomed_process.wait(timeout=30)
    finally:
        stop_worker_process(doomed_process)

    survivor, survivor_process = stack.worker("worker-survivor")
    try:  # RQ's cleanup finds the run abandoned after its timeout and a minute; retried
        [hook] = receiver.wait_for(ok_path, timeout=JOB_TIMEOUT + 60 + 120)
        settled(stack.state, job_id)
    finally:
        stop_worker_process(survivor_process)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "completed")
    row = sql_row(stack.state, job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert f"job {job_id} rendering" in survivor.log_path.read_text()
    assert_one_webhook(receiver, ok_path, failed_path)


def test_a_cancel_stops_the_run_in_the_worker_process_which_goes_on_working(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    worker, process = stack.worker("worker-cancelled")
    try:
        slow = slow_report(stack.state)
        ok_path, failed_path = callback_paths()
        job_id = submit_report(stack.client, AUTH, slow, callback=receiver.url_for(ok_path))[
            "job_id"
        ]
        wait_until(lambda: sql_row(stack.state, job_id)["stage"] == "rendering", timeout=60)
        cancelled = stack.client.delete(f"/api/jobs/{job_id}", headers=AUTH)
        assert (cancelled.status_code, cancelled.get_json()["status"]) == (200, "cancelled")
        # RQ's stop command interrupts the render in the worker process itself.
        wait_until(
            lambda: (
                Job.fetch(job_id, connection=stack.state.redis).get_status() == JobStatus.STOPPED
            ),
            timeout=20,
        )
        [hook] = receiver.wait_for(failed_path, timeout=30)
        settled(stack.state, job_id)
        # The same process takes the next job and finishes it.
        after = new_report(stack.state)
        next_ok, next_failed = callback_paths()
        next_id = submit_report(stack.client, AUTH, after, callback=receiver.url_for(next_ok))[
            "job_id"
        ]
        receiver.wait_for(next_ok, timeout=90)
        settled(stack.state, next_id)
        assert process.poll() is None
    finally:
        stop_worker_process(process)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job_id, "cancelled")
    assert sql_row(stack.state, job_id)["storage_key"] is None
    assert not (Path(stack.state.settings.resolved_storage_dir) / f"{job_id}.pdf").exists()
    assert sql_row(stack.state, next_id)["status"] == "completed"
    assert f"run {job_id} was stopped on request" in worker.log_path.read_text()
    assert_one_webhook(receiver, failed_path, ok_path)
    assert_one_webhook(receiver, next_ok, next_failed)
