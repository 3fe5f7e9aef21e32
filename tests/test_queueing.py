"""JobQueue against a real Redis: enqueue options, position across priorities, estimates.

These tests use Redis database 15 of the session's server, flushed before each test:
the session worker (``worker`` fixture) polls the same queue names on database 0,
and would otherwise take jobs away and count as a live worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.queue.queues import (
    AVERAGE_KEY,
    AVERAGE_TTL_SECONDS,
    DELIVERY_FUNCTION,
    JOB_DESCRIPTION,
    JOB_FUNCTION,
    JobQueue,
    job_of_run,
    run_id,
    waiting_run_id,
)
from flask_pdfqueue.queue.rq_state import BEAT_KEY, DELIVERY_QUEUE, queue_name
from flask_pdfqueue.records.sql import Delivery
from flask_pdfqueue.rq_jobs import on_run_failed, on_run_stopped
from flask_pdfqueue.worker.classes import PDFWorker
from tests.servers import RunningServer

DB = 15


@pytest.fixture
def connection(redis_server: RunningServer) -> Iterator[redis.Redis]:
    """A flushed Redis database that no worker of the session uses."""
    url = redis_server.url.rsplit("/", 1)[0] + f"/{DB}"
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


def _queue(connection: redis.Redis, **overrides: object) -> JobQueue:
    return JobQueue(connection, dataclasses.replace(Settings(), **overrides))  # type: ignore[arg-type]


def _assert_estimate(queue: JobQueue, position: int, expected_seconds: float) -> None:
    """estimate(position) is now + expected_seconds, measured around the call."""
    before = datetime.now(UTC)
    estimate = queue.estimate(position)
    after = datetime.now(UTC)
    assert isinstance(estimate, datetime) and estimate.utcoffset() == timedelta(0)
    delta = timedelta(seconds=expected_seconds)
    tolerance = timedelta(milliseconds=5)
    assert before + delta - tolerance <= estimate <= after + delta + tolerance


def test_enqueue_puts_the_run_on_its_priority_queue_with_our_callbacks(
    connection: redis.Redis,
) -> None:
    queue = _queue(connection, job_timeout=123, result_ttl=456, failure_ttl=789)
    job_id = "job-secret-callback-token"
    returned = queue.enqueue(job_id, "normal", rq_job_id=job_id)
    assert returned.id == job_id
    assert connection.lrange(f"rq:queue:{queue_name('normal')}", 0, -1) == [job_id.encode()]
    assert connection.llen("rq:queue:pdf-high") == 0
    assert connection.llen("rq:queue:pdf-low") == 0

    job = Job.fetch(job_id, connection=connection)  # what a worker will see
    assert job.origin == "pdf-normal"
    assert job.func_name == JOB_FUNCTION
    assert list(job.args) == [] and job_of_run(job.id) == job_id
    # Every field under Redis's default 64-byte limit: the hash is a compact listpack.
    assert connection.object("encoding", f"rq:job:{job_id}") == b"listpack"
    assert (connection.memory_usage(f"rq:job:{job_id}") or 0) < 1024
    assert job.kwargs == {}
    assert job.retries_left is None  # retries are ours, counted in SQL
    assert job.timeout == 123
    assert job.result_ttl == 456
    assert job.failure_ttl == 789
    assert job.description == JOB_DESCRIPTION
    assert job_id not in (job.description or "")
    assert job.failure_callback is on_run_failed
    assert job.stopped_callback is on_run_stopped
    assert queue.holds(job_id)


@pytest.mark.parametrize("priority", ["high", "low"])
def test_enqueue_uses_the_named_priority_queue(connection: redis.Redis, priority: str) -> None:
    queue = _queue(connection)
    queue.enqueue("j-1", priority, rq_job_id="j-1")
    assert connection.lrange(f"rq:queue:pdf-{priority}", 0, -1) == [b"j-1"]
    assert queue.waiting() == 1


def test_a_later_run_has_its_own_id_and_waits_for_the_scheduler(connection: redis.Redis) -> None:
    queue = _queue(connection)
    before = datetime.now(UTC)
    job = queue.enqueue("j-2", "low", rq_job_id=run_id("j-2", 2), delay=30)
    assert job.id == "j-2-r2" and run_id("j-2", 1) == "j-2"
    assert job_of_run(job.id) == "j-2"
    assert queue.waiting() == 0
    registry = queue.queues["low"].scheduled_job_registry
    assert registry.get_job_ids() == ["j-2-r2"]
    when = registry.get_scheduled_time("j-2-r2")
    assert before + timedelta(seconds=29) <= when <= before + timedelta(seconds=31)
    assert queue.holds("j-2-r2")


def test_holds_only_runs_rq_will_still_run(connection: redis.Redis) -> None:
    queue = _queue(connection)
    assert not queue.holds("never-enqueued")
    queue.enqueue("j-3", "normal", rq_job_id="j-3")
    assert queue.holds("j-3")
    connection.delete(queue.queues["normal"].key)  # Redis lost the list entry (AOF tail)
    assert not queue.holds("j-3")
    queue.enqueue("j-4", "normal", rq_job_id="j-4")
    Job.fetch("j-4", connection=connection).set_status(JobStatus.FAILED)
    assert not queue.holds("j-4")


def test_a_run_a_worker_has_just_taken_is_held(connection: redis.Redis) -> None:
    # A worker on one queue (the delivery worker, or one started for a single priority)
    # keeps what it took in the queue's intermediate list until it starts it: the
    # reconciler must not queue it a second time then.
    queue = _queue(connection)
    queue.enqueue("j-6", "normal", rq_job_id="j-6")
    taken = Queue.dequeue_any([queue.queues["normal"]], None, connection=connection)
    assert taken is not None and taken[0].id == "j-6"
    assert queue.queues["normal"].get_job_ids() == []
    assert queue.holds("j-6")
    connection.delete(queue.queues["normal"].intermediate_queue_key)  # the worker died
    assert not queue.holds("j-6")


def test_a_delivery_attempt_goes_on_the_webhook_queue(connection: redis.Redis) -> None:
    queue = _queue(connection, webhook_connect_timeout=2.0, webhook_timeout=8.0)
    now = datetime.now(UTC)
    delivery = Delivery(
        webhook_id="msg_1",
        job_id="j-5",
        subscriber_id=1,
        event="completed",
        url="http://127.0.0.1:9/webhook/pdf-complete?signature=secret",
        payload="{}",
        state="pending",
        attempts=2,
        round_attempts=2,
        created_at=now,
        updated_at=now,
    )
    job = queue.enqueue_delivery(delivery)
    assert job.id == "msg_1-2"
    assert connection.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1) == [b"msg_1-2"]
    assert job.func_name == DELIVERY_FUNCTION
    assert list(job.args) == ["msg_1"]  # the URL and its secret stay in SQL
    assert job.timeout == 2 + 8 + 30
    later = queue.enqueue_delivery(dataclasses.replace(delivery, attempts=3), delay=300)
    assert queue.webhooks.scheduled_job_registry.get_job_ids() == [later.id]
    assert queue.waiting() == 0  # deliveries never count against the render queue's size


def test_position_counts_jobs_in_higher_queues(connection: redis.Redis) -> None:
    queue = _queue(connection)
    for n in range(2):
        queue.enqueue(f"high-{n}", "high")
    for n in range(3):
        queue.enqueue(f"normal-{n}", "normal")
    queue.enqueue("low-0", "low")

    assert queue.position("high-0", "high") == 0
    assert queue.position("high-1", "high") == 1
    assert queue.position("normal-0", "normal") == 2
    assert queue.position("normal-2", "normal") == 4
    assert queue.position("low-0", "low") == 5
    assert queue.waiting() == 6

    queue.enqueue("high-2", "high")  # a later high job jumps ahead of normal and low
    assert queue.position("high-2", "high") == 2
    assert queue.position("normal-2", "normal") == 5
    assert queue.position("low-0", "low") == 6
    assert queue.waiting() == 7
    # Asked together, in one round trip, they agree; a job being worked on is ahead of none.
    connection.lrem("rq:queue:pdf-high", 0, "high-0")  # a worker took it
    assert queue.positions(
        [("high-0", "high"), ("high-1", "high"), ("normal-0", "normal"), ("low-0", "low")]
    ) == [None, 0, 2, 5]


def test_position_is_none_for_a_job_not_waiting(connection: redis.Redis) -> None:
    queue = _queue(connection)
    queue.enqueue("gone", "normal")
    queue.enqueue("stays", "normal")
    assert queue.position("never-queued", "normal") is None
    assert queue.position("gone", "high") is None  # not in the queue it is asked about
    connection.lrem("rq:queue:pdf-normal", 0, "gone")  # as a worker's dequeue does
    assert queue.position("gone", "normal") is None
    assert queue.position("stays", "normal") == 0


def test_waiting_sums_all_queues(connection: redis.Redis) -> None:
    queue = _queue(connection)
    assert queue.waiting() == 0
    for n, priority in enumerate(["high", "normal", "normal", "low", "low", "low"]):
        queue.enqueue(f"j-{n}", priority)
    assert queue.waiting() == 6


def test_estimate_uses_initial_seconds_and_one_worker_minimum(connection: redis.Redis) -> None:
    queue = _queue(connection, initial_job_seconds=8.0)
    assert Worker.count(connection=connection) == 0
    assert queue.average_job_seconds() == 8.0
    _assert_estimate(queue, 0, 8.0)
    _assert_estimate(queue, 4, 5 * 8.0)


def test_estimate_divides_by_live_workers(connection: redis.Redis) -> None:
    queue = _queue(connection, initial_job_seconds=6.0)
    workers = [PDFWorker(queue.ordered, connection=connection, name=f"w{n}") for n in range(3)]
    for worker in workers:
        worker.register_birth()
    try:
        assert Worker.count(connection=connection) == 3
        _assert_estimate(queue, 2, 3 * 6.0 / 3)
        workers[0].register_death()
        _assert_estimate(queue, 2, 3 * 6.0 / 2)
        connection.delete(BEAT_KEY.format(worker="w1"))  # killed: its registration lingers
        _assert_estimate(queue, 2, 3 * 6.0 / 1)
    finally:
        for worker in workers:
            worker.register_death()


def test_the_estimates_average_is_read_from_its_source_at_most_every_ttl(
    connection: redis.Redis,
) -> None:
    measured: list[float | None] = [12.0]
    settings = dataclasses.replace(Settings(), initial_job_seconds=8.0)
    queue = JobQueue(connection, settings, lambda: measured[0])

    assert queue.average_job_seconds() == 12.0
    measured[0] = 30.0
    assert queue.average_job_seconds() == 12.0  # kept for a while: no aggregate per submit
    assert 0 < connection.ttl(AVERAGE_KEY) <= AVERAGE_TTL_SECONDS
    connection.delete(AVERAGE_KEY)  # as when its TTL runs out
    _assert_estimate(queue, 1, 2 * 30.0)
    measured[0] = None  # no job completed within the window
    connection.delete(AVERAGE_KEY)
    assert queue.average_job_seconds() == 8.0


@pytest.mark.parametrize(
    ("rq_job_id", "job_id"),
    [("pdf_1a2b", "pdf_1a2b"), ("pdf_1a2b-r3", "pdf_1a2b"), ("pdf_1a2b-w0f3c9a1e", "pdf_1a2b"),
     ("j-2", "j-2"), ("j-2-r12", "j-2"), ("j-w", "j-w")],
)  # fmt: skip
def test_a_run_names_its_job(rq_job_id: str, job_id: str) -> None:
    assert job_of_run(rq_job_id) == job_id
    assert job_of_run(waiting_run_id(job_id)) == job_id
