"""The worker's own upkeep against a real Redis: registrations Redis forgot, scheduler
locks of dead schedulers, liveness by heartbeat, the reconciler in maintenance."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq import Worker
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import utcformat

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.jobs.outages import DEPENDENCIES, open_outages, report_down
from flask_pdfqueue.jobs.reconcile import LOCK_KEY
from flask_pdfqueue.queue.rq_state import (
    BEAT_KEY,
    SCHEDULER_RECORD_TTL,
    live_workers,
    read_workers,
    scheduler_alive,
    wake_time,
)
from flask_pdfqueue.timestamps import redis_now, utcnow
from flask_pdfqueue.worker.classes import (
    MAINTENANCE_SECONDS,
    WORKER_TTL,
    PDFWorker,
    ReconcilerThread,
    clear_dead_scheduler_lock,
)
from tests.factories import isolated_app, make_idle, queued_job, state_of
from tests.servers import RunningServer

QUEUE = "pdf-normal"


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    yield from isolated_app(stack_settings, redis_server, tmp_path, redis_db=14)


@pytest.fixture
def state(app: Flask) -> PDFQueueState:
    return state_of(app)


def _scheduler(state: PDFQueueState, name: str, silent_for: float | None) -> None:
    """A scheduler lock on QUEUE held by ``name``, whose last heartbeat was ``silent_for``
    seconds ago by Redis's clock (RQ's heartbeat sets the record's TTL to 61 s)."""
    state.redis.set(RQScheduler.get_locking_key(QUEUE), name, ex=61)
    if silent_for is not None:
        key = SCHEDULER_KEY_TEMPLATE % name
        # the time the scheduler host wrote is its own business: far off, to prove it
        state.redis.hset(key, "last_heartbeat", utcformat(datetime(2001, 1, 1, tzinfo=UTC)))
        state.redis.pexpire(key, int((SCHEDULER_RECORD_TTL - silent_for) * 1000))


def test_a_dead_schedulers_lock_is_cleared_and_a_live_ones_kept(state: PDFQueueState) -> None:
    _scheduler(state, "alive", 2)
    assert scheduler_alive(state.redis, QUEUE)
    assert not clear_dead_scheduler_lock(state.redis, QUEUE)
    assert state.redis.exists(RQScheduler.get_locking_key(QUEUE))

    _scheduler(state, "killed", 12)  # kill -9: the lock outlives it
    assert not scheduler_alive(state.redis, QUEUE)
    assert clear_dead_scheduler_lock(state.redis, QUEUE)
    assert not state.redis.exists(RQScheduler.get_locking_key(QUEUE))

    # Just taken: the scheduler process has not written its record yet.
    _scheduler(state, "starting", None)
    assert scheduler_alive(state.redis, QUEUE)
    assert not clear_dead_scheduler_lock(state.redis, QUEUE)
    state.redis.delete(RQScheduler.get_locking_key(QUEUE))
    assert not scheduler_alive(state.redis, QUEUE)
    assert not clear_dead_scheduler_lock(state.redis, QUEUE)  # nothing to clear


def test_a_real_schedulers_heartbeat_keeps_it_alive(state: PDFQueueState) -> None:
    # What RQ's own scheduler writes is what the liveness reads (RQ >=3,<4).
    scheduler = RQScheduler([QUEUE], connection=state.redis)
    assert scheduler.acquire_locks()  # type: ignore[no-untyped-call]
    scheduler.register_birth()
    scheduler.heartbeat()  # type: ignore[no-untyped-call]
    assert scheduler_alive(state.redis, QUEUE)
    state.redis.pexpire(scheduler.key, (SCHEDULER_RECORD_TTL - 11) * 1000)  # 11 s of silence
    assert not scheduler_alive(state.redis, QUEUE)
    scheduler.heartbeat()  # type: ignore[no-untyped-call]
    assert scheduler_alive(state.redis, QUEUE)
    scheduler.release_locks()  # type: ignore[no-untyped-call]


def _beating(state: PDFQueueState, name: str, *, clock_off_by: float) -> None:
    """A scheduler lock on QUEUE held by ``name``, whose host's clock is ``clock_off_by``
    seconds from Redis's, and which beat 2 s ago."""
    state.redis.set(RQScheduler.get_locking_key(QUEUE), name, ex=61)
    key = SCHEDULER_KEY_TEMPLATE % name
    beat = redis_now(state.redis) - timedelta(seconds=2 - clock_off_by)
    state.redis.hset(key, "last_heartbeat", utcformat(beat))
    state.redis.pexpire(key, (SCHEDULER_RECORD_TTL - 2) * 1000)


@pytest.mark.parametrize("clock_off_by", [-30.0, 0.0, 30.0])
def test_a_delay_is_woken_by_the_clock_of_the_queues_scheduler(
    state: PDFQueueState, clock_off_by: float
) -> None:
    _beating(state, "elsewhere", clock_off_by=clock_off_by)
    when = wake_time(state.redis, QUEUE, 10)
    assert when.microsecond == 0  # RQ keeps whole seconds: rounded up, never early
    by_redis = (when - redis_now(state.redis)).total_seconds()
    assert 10 + clock_off_by - 0.1 <= by_redis <= 10 + clock_off_by + 1.1


def test_with_no_scheduler_a_delay_goes_by_the_local_clock(state: PDFQueueState) -> None:
    before = utcnow()
    when = wake_time(state.redis, QUEUE, 10)
    assert before + timedelta(seconds=10) <= when <= utcnow() + timedelta(seconds=11)


def test_a_real_schedulers_beat_says_its_clock(state: PDFQueueState) -> None:
    scheduler = RQScheduler([QUEUE], connection=state.redis)
    assert scheduler.acquire_locks()  # type: ignore[no-untyped-call]
    scheduler.register_birth()
    scheduler.heartbeat()  # type: ignore[no-untyped-call]
    by_redis = (wake_time(state.redis, QUEUE, 5) - redis_now(state.redis)).total_seconds()
    assert 4.9 <= by_redis <= 6.1  # this host and its Redis share a clock
    scheduler.release_locks()  # type: ignore[no-untyped-call]


def test_only_workers_that_beat_count_as_live_by_redis_clock(state: PDFQueueState) -> None:
    queues = state.queue.ordered
    fresh = PDFWorker(queues, connection=state.redis, name="fresh")
    killed = PDFWorker(queues, connection=state.redis, name="killed")
    for worker in (fresh, killed):
        worker.register_birth()
    # A worker killed with SIGKILL leaves its registration; its beat expires (by Redis).
    state.redis.pexpire(BEAT_KEY.format(worker="killed"), 1)
    time.sleep(0.05)
    # what a host's clock wrote is its own business: far off, to prove it
    state.redis.hset(fresh.key, "last_heartbeat", utcformat(datetime(2001, 1, 1, tzinfo=UTC)))
    assert Worker.count(connection=state.redis) == 2
    assert live_workers(state.redis, "render") == 1
    assert live_workers(state.redis, "delivery") == 0
    [alive] = [w for w in read_workers(state.redis) if w.live]
    assert alive.name == "fresh" and alive.heartbeat_age is not None and alive.heartbeat_age < 2
    fresh.heartbeat()  # RQ's heartbeat renews the beat
    assert 0 < state.redis.pttl(BEAT_KEY.format(worker="fresh")) <= 70_000
    fresh.register_death()  # a clean stop: dead at once
    assert live_workers(state.redis, "render") == 0


def test_maintenance_registers_the_worker_again_after_redis_was_flushed(
    state: PDFQueueState,
) -> None:
    worker = PDFWorker(state.queue.ordered, connection=state.redis, name="survivor")
    worker.register_birth()
    state.redis.flushdb()  # a new, empty Redis
    worker.heartbeat()  # what the worker keeps doing: it does not bring the registration back
    assert Worker.count(connection=state.redis) == 0

    worker.run_maintenance_tasks()

    assert [w.name for w in Worker.all(connection=state.redis)] == ["survivor"]
    assert live_workers(state.redis, "render") == 1


def test_the_reconciler_runs_on_a_thread_of_its_own_never_in_a_render_worker(
    app: Flask, state: PDFQueueState, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = queued_job(state, enqueue=True)
    state.redis.flushdb()
    make_idle(state, job_id)
    worker = PDFWorker(state.queue.ordered, connection=state.redis, name="render")
    worker.register_birth()
    worker.run_maintenance_tasks()
    assert not state.queue.holds(job_id)  # a render worker's upkeep reconciles nothing

    monkeypatch.setattr("flask_pdfqueue.worker.classes.RECONCILE_POLL", 0.1)
    thread = ReconcilerThread(app, "delivery")
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not state.queue.holds(job_id) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        thread.stop()
    assert state.queue.holds(job_id)  # brought back by the reconciler's thread
    assert state.redis.get(LOCK_KEY) == b"delivery"
    assert not thread.is_alive()


def test_worker_settings_keep_recovery_within_a_minute(state: PDFQueueState) -> None:
    worker = PDFWorker(state.queue.ordered, connection=state.redis, name="settings")
    assert worker.maintenance_interval == MAINTENANCE_SECONDS <= 30
    assert worker.worker_ttl == WORKER_TTL
    assert worker.dequeue_timeout + MAINTENANCE_SECONDS < 60


def test_a_render_worker_takes_jobs_again_once_the_outage_is_over(state: PDFQueueState) -> None:
    # Recorded down by an earlier run; the storage answers the worker's probe now.
    report_down(state.redis, "storage", "could not store the PDF (EIO)")
    report_down(state.redis, "mongo", "MongoDB did not answer")  # MongoDB answers too
    worker = PDFWorker(state.queue.ordered, connection=state.redis, needs=DEPENDENCIES)
    started = time.monotonic()
    worker._wait_out_outages()
    assert time.monotonic() - started < 5  # no pause: both answered at the first probe
    assert open_outages(state.redis) == []


def test_an_outage_past_its_grace_holds_no_worker(state: PDFQueueState) -> None:
    long_ago = datetime.now(UTC) - timedelta(seconds=state.settings.outage_grace + 60)
    state.redis.hset("pdfqueue:outage:sql", "since", long_ago.timestamp())
    worker = PDFWorker(state.queue.ordered, connection=state.redis, needs=DEPENDENCIES)
    worker._wait_out_outages()  # returns: the jobs then fail for good, one by one
    assert [o.dependency for o in open_outages(state.redis)] == ["sql"]
