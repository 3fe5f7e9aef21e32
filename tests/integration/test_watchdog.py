"""The default render worker: every run in one warm job process, watched by the process
that started it. Exactly one outcome when the job process is killed mid-run (settled at
once), when a run hangs past its time limit with signals blocked (killed from outside),
when the job process retires, and when the watchdog itself is killed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler

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
    running,
    settled,
    sql_row,
    submit_report,
    verified,
    wait_until,
)
from tests.integration.test_worker_lost import slow_report
from tests.procfs import children_of
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer

pytestmark = pytest.mark.integration

#: A pack whose first render hangs with SIGALRM blocked (RQ's in-process time limit
#: cannot stop it), and whose later renders work.
STUCK_PACK_INIT = """
import os, signal, time
from pathlib import Path

MARKER = Path(__file__).with_name("hung-once")


def build_context(document):
    if not MARKER.exists():
        MARKER.touch()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(600)
    return {"code": document["code"]}
"""


@dataclass(frozen=True)
class Job_:
    job_id: str
    ok_path: str
    failed_path: str


AUTH = {"X-API-Key": API_KEY}
#: Short, so RQ finds a killed worker's run abandoned soon (the timeout and a minute), and
#: the watchdog kills a stuck run soon (the timeout and KILL_GRACE).
JOB_TIMEOUT = 15
STUCK_PACK = Path(tempfile.mkdtemp(prefix="pdfqueue-stuck-")) / "stuck"


@dataclass(frozen=True)
class Stack:
    state: PDFQueueState
    client: FlaskClient
    env: dict[str, str]
    home: Path

    def worker(
        self, name: str, *args: str, **settings: str
    ) -> tuple[WorkerProcess, subprocess.Popen[bytes]]:
        log = self.home / f"{name}.log"
        env = {**self.env, **settings}
        process = start_worker_process(self.state, env, log, "worker", args=args)
        return WorkerProcess(process.pid, log), process


@pytest.fixture(scope="module")
def stack(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("watchdog")
    (STUCK_PACK / "templates").mkdir(parents=True)
    (STUCK_PACK / "__init__.py").write_text(STUCK_PACK_INIT)
    (STUCK_PACK / "templates" / "report.html").write_text("<p>{{ code }}</p>")
    settings = {
        **stack_settings,
        "PDFQUEUE_JOB_TIMEOUT": str(JOB_TIMEOUT),
        "PDFQUEUE_REPORT_PACKS": f"stuck={STUCK_PACK}",
        "PDFQUEUE_TEMPLATE_MAP": "stuckOnce=stuck",
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


def _submit(stack: Stack, receiver: WebhookReceiver, document: dict[str, object]) -> Job_:
    ok_path, failed_path = callback_paths()
    job_id = submit_report(stack.client, AUTH, document, callback=receiver.url_for(ok_path))
    return Job_(str(job_id["job_id"]), ok_path, failed_path)


def test_jobs_run_one_after_another_in_one_job_process(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    worker, process = stack.worker("worker-a")
    try:
        job_process = worker.horse_pid()
        first = _submit(stack, receiver, new_report(stack.state))
        [hook] = receiver.wait_for(first.ok_path, timeout=90)
        second = _submit(stack, receiver, new_report(stack.state))
        receiver.wait_for(second.ok_path, timeout=90)
        settled(stack.state, second.job_id)
        assert job_process is not None and worker.horse_pid() == job_process  # no fork per run
    finally:
        stop_worker_process(process)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (first.job_id, "completed")
    for job in (first, second):
        assert (sql_row(stack.state, job.job_id)["status"], sql_row(stack.state, job.job_id)[
            "retry_count"]) == ("completed", 0)  # fmt: skip
        assert_one_webhook(receiver, job.ok_path, job.failed_path)
    download = stack.client.get(f"/api/jobs/{first.job_id}/download", headers=AUTH)
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    log = worker.log_path.read_text()
    assert f"job {first.job_id} rendering" in log and "killed horse" not in log


def test_a_job_process_killed_mid_run_is_replaced_and_its_run_settled_at_once(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    worker, process = stack.worker("worker-b")
    try:
        job = _submit(stack, receiver, slow_report(stack.state))
        wait_until(lambda: sql_row(stack.state, job.job_id)["stage"] == "rendering", timeout=60)
        killed = worker.horse_pid()
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        started = time.monotonic()
        [hook] = receiver.wait_for(job.ok_path, timeout=60)  # no wait for RQ's abandoned-job check
        recovered_in = time.monotonic() - started
        settled(stack.state, job.job_id)
        assert worker.horse_pid() not in (None, killed)
        assert process.poll() is None  # the watchdog stays
    finally:
        stop_worker_process(process)
    assert recovered_in < JOB_TIMEOUT + 30
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job.job_id, "completed")
    row = sql_row(stack.state, job.job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    assert "died (killed by signal 9)" in worker.log_path.read_text()
    assert_one_webhook(receiver, job.ok_path, job.failed_path)


def test_a_run_stuck_past_its_time_limit_is_killed_from_outside_and_retried(
    stack: Stack, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    worker, process = stack.worker("worker-c")
    try:
        document = new_report(stack.state, product_id="stuckOnce")
        job = _submit(stack, receiver, document)
        [hook] = receiver.wait_for(job.ok_path, timeout=JOB_TIMEOUT + 90)
        settled(stack.state, job.job_id)
    finally:
        stop_worker_process(process)
    payload = verified(hook, stack.state.settings.webhook_secret)
    assert (payload["job_id"], payload["status"]) == (job.job_id, "completed")
    row = sql_row(stack.state, job.job_id)
    assert (row["status"], row["retry_count"]) == ("completed", 1)
    log = worker.log_path.read_text()
    assert f"passed its {JOB_TIMEOUT} s time limit; killing" in log
    assert_one_webhook(receiver, job.ok_path, job.failed_path)


@pytest.mark.parametrize(
    ("args", "settings"),
    [(["--retire-after", "1"], {}), ([], {"PDFQUEUE_WORKER_MAX_RSS_MB": "1"})],
    ids=["after-one-job", "past-its-rss"],
)
def test_a_job_process_retires_and_a_fresh_one_goes_on(
    stack: Stack, receiver: WebhookReceiver, args: list[str], settings: dict[str, str]
) -> None:
    worker, process = stack.worker(f"worker-d{len(args)}", *args, **settings)
    try:
        jobs = [_submit(stack, receiver, new_report(stack.state)) for _ in range(3)]
        for job in jobs:
            receiver.wait_for(job.ok_path, timeout=90)
            settled(stack.state, job.job_id)
    finally:
        stop_worker_process(process)
    log = worker.log_path.read_text()
    assert log.count("retiring after 1 jobs") >= 2
    assert len(set(re.findall(r"job process (\d+) started", log))) >= 3
    for job in jobs:
        assert sql_row(stack.state, job.job_id)["status"] == "completed"
        assert_one_webhook(receiver, job.ok_path, job.failed_path)


def test_a_watchdog_killed_mid_run_takes_its_job_process_along_and_the_run_is_recovered(
    stack: Stack, receiver: WebhookReceiver
) -> None:
    document = slow_report(stack.state)
    ok_path, failed_path = callback_paths()
    for queue in stack.state.queue.ordered:  # locks of killed schedulers: this one's now
        stack.state.redis.delete(RQScheduler.get_locking_key(queue.name))
    doomed, doomed_process = stack.worker("worker-doomed")
    try:
        job_id = submit_report(
            stack.client,
            AUTH,
            document,
            callback=receiver.url_for(ok_path),
        )["job_id"]
        wait_until(lambda: sql_row(stack.state, job_id)["stage"] == "rendering", timeout=60)
        job_process = doomed.horse_pid()
        assert job_process is not None
        wait_until(lambda: len(children_of(job_process)) == 1, timeout=10)
        [scheduler] = children_of(job_process)  # RQ's scheduler
        os.kill(doomed.pid, signal.SIGKILL)  # the watchdog: its job process dies with it
        doomed_process.wait(timeout=30)
        # ... and the scheduler with the job process (else it would hold the locks)
        wait_until(lambda: not running(job_process) and not running(scheduler), timeout=10)
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


def test_a_cancel_stops_the_run_in_the_job_process_which_goes_on_working(
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
        # RQ's stop command interrupts the render in the job process itself.
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
