"""A worker stopped with TERM (supervisord's stopsignal) finishes the job it runs, and a
stop always ends: one that lands inside a log call, and one a job process ignores."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import Queue
from rq.exceptions import StopRequested
from rq.job import JobStatus

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.worker import watchdog
from flask_pdfqueue.worker.classes import InProcessWorker
from flask_pdfqueue.worker.watchdog import Watchdog, WatchedWorker
from tests.conftest import isolated_worker_env, make_isolated_app, start_worker_process
from tests.integration.helpers import running, settled, sql_row, wait_until
from tests.integration.test_worker_lost import slow_report
from tests.procfs import children_of
from tests.servers import RunningServer

pytestmark = pytest.mark.integration


def test_a_worker_told_to_stop_finishes_its_job_then_exits(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(stack_settings, state)
    worker = start_worker_process(state, env, tmp_path / "worker.log")
    try:
        document = slow_report(state)
        response = app.test_client().post(
            "/api/reports/generate-async",
            json={"code": document["code"], "productId": document["product_id"]},
            headers={"X-API-Key": stack_settings["PDFQUEUE_API_KEYS"].split(",")[0]},
        )
        job_id = response.get_json()["job_id"]
        wait_until(lambda: sql_row(state, job_id)["stage"] == "rendering", timeout=60)

        os.kill(worker.pid, signal.SIGTERM)  # warm shutdown: the running job goes on

        assert worker.wait(timeout=120) == 0
        settled(state, job_id, timeout=5)
        row = sql_row(state, job_id)
        assert (row["status"], row["retry_count"]) == ("completed", 0)
        assert "warm shut down requested" in (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        state.close()


def noted(text: str) -> str:
    """A job for a plain RQ queue: what it was given."""
    return text


class _SignalInLogCall(logging.Handler):
    """Sends this process SIGTERM while formatting the first record that names
    ``job_id``, inside the ``try`` of ``emit`` (as a signal arriving mid-log does), and
    notes what ``handleError`` was handed."""

    def __init__(self, job_id: str) -> None:
        super().__init__(logging.INFO)
        self.job_id = job_id
        self.sent = False
        self.swallowed: list[BaseException | None] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if self.job_id in message and not self.sent:
                self.sent = True
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.1)  # the handler runs here, in the main thread
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:
        self.swallowed.append(sys.exc_info()[1])


def test_a_stop_that_lands_in_a_log_call_still_stops_the_worker_after_its_job(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    queue = Queue("stop-in-log", connection=state.redis)
    first = queue.enqueue(noted, "first")
    second = queue.enqueue(noted, "second")
    handler = _SignalInLogCall(first.id)
    rq_log = logging.getLogger("rq.worker")
    rq_log.addHandler(handler)
    handlers = {
        signum: signal.getsignal(signum)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2)
    }
    # Should the stop be lost, a cold stop ends the worker instead (and the test fails).
    lost = threading.Timer(30, os.kill, (os.getpid(), signal.SIGTERM))
    lost.start()
    try:
        with app.app_context():
            worker = InProcessWorker([queue], connection=state.redis)
            try:
                worker.work(logging_level="INFO", with_scheduler=False)
                cold = False
            except SystemExit:
                cold = True
    finally:
        lost.cancel()
        rq_log.removeHandler(handler)
        for signum, previous in handlers.items():
            signal.signal(signum, previous)
        state.close()
    [swallowed] = handler.swallowed
    assert isinstance(swallowed, StopRequested)  # logging swallowed RQ's stop
    assert not cold, "the worker went on after the stop until a cold stop"
    assert first.get_status(refresh=True) == JobStatus.FINISHED
    assert first.return_value(refresh=True) == "first"
    assert second.get_status(refresh=True) == JobStatus.QUEUED  # taken by nobody
    assert queue.job_ids == [second.id]


def _stubborn(pids: Path) -> None:
    """A job process that ignores the stop and has forked a process of its own (as RQ's
    scheduler is)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = os.fork()
    if child == 0:
        time.sleep(600)
        os._exit(0)
    pids.write_text(f"{os.getpid()} {child}")
    time.sleep(600)


def test_a_job_process_that_ignores_the_stop_is_killed_with_its_group_after_the_grace(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    pids = tmp_path / "pids"
    watchdog_pid = os.fork()
    if watchdog_pid == 0:  # the watchdog, as `flask pdfqueue worker` runs it
        code = 1
        try:
            watchdog.STOP_GRACE = 2.0
            code = Watchdog(
                state,
                lambda fd, name: WatchedWorker(
                    [Queue("stubborn", connection=state.redis)],
                    connection=state.redis,
                    report_fd=fd,
                    retire_after=1000,
                    max_rss_mb=0,
                ),
                name="stubborn",
                burst=False,
                max_jobs=None,
                work=lambda worker, remaining: _stubborn(pids),
            ).run()
        finally:
            os._exit(code)
    try:
        wait_until(lambda: pids.exists() and len(pids.read_text().split()) == 2, timeout=30)
        job_process, its_child = (int(pid) for pid in pids.read_text().split())
        started = time.monotonic()
        os.kill(watchdog_pid, signal.SIGTERM)
        statuses: list[int] = []
        wait_until(lambda: _reaped(watchdog_pid, statuses), timeout=15)
        took = time.monotonic() - started
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(watchdog_pid, signal.SIGKILL)  # (the job process dies with it)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(watchdog_pid, 0)
        state.close()
    assert statuses == [0]  # the watchdog exited 0 (a wait status of 0)
    assert took >= 2.0  # the grace was given
    wait_until(lambda: not running(job_process) and not running(its_child), timeout=5)


def _reaped(pid: int, statuses: list[int]) -> bool:
    """Whether the child ``pid`` has ended; its wait status goes to ``statuses``."""
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        statuses.append(status)
    return bool(done)


def test_a_killed_delivery_worker_takes_its_scheduler_along(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    """supervisord's last resort is SIGKILL: RQ's scheduler, which the delivery worker
    forked, must not live on holding the scheduler locks of the webhook queue."""
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=12)
    state: PDFQueueState = app.extensions["pdfqueue"]
    env = isolated_worker_env(stack_settings, state)
    worker = start_worker_process(state, env, tmp_path / "delivery.log", "delivery-worker")
    try:
        wait_until(lambda: children_of(worker.pid) != [], timeout=30)
        [scheduler] = children_of(worker.pid)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        wait_until(lambda: not running(scheduler), timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        state.close()
