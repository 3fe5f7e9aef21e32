"""RQ plumbing: the three priority queues, the webhook queue, position and estimate.

Workers poll ``high``, ``normal`` and ``low`` in strict order, so a job's position
counts every job waiting in a higher queue plus those ahead of it in its own.
Webhook deliveries have a queue of their own, worked by their own workers, so a
slow or dead receiver never holds a render worker. Only ids travel through Redis:
everything else is in SQL, so nothing secret (callback URLs carry n8n's signature
token) shows up in Redis or the dashboard.

Each run of a job is its own RQ job (``rq_job_id`` in SQL names the current one):
retries are scheduled by :mod:`~flask_pdfqueue.jobs.attempts` from the attempt count
SQL keeps, not by RQ's ``Retry``, so a job brought back by the reconciler keeps
its count. RQ tells us about runs that died through the callbacks below.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from rq import Callback, Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..config.settings import PRIORITIES, Settings
from ..records.sql.delivery_rows import Delivery
from ..timestamps import utcnow
from .rq_state import DELIVERY_QUEUE, live_workers, queue_depths, queue_name, wake_time

JOB_FUNCTION = "flask_pdfqueue.rq_jobs.generate_pdf_job"
JOB_DESCRIPTION = "generate PDF report"
DELIVERY_FUNCTION = "flask_pdfqueue.rq_jobs.deliver_webhook_job"
DELIVERY_DESCRIPTION = "deliver webhook"
#: RQ calls these when a run raised, was abandoned by a dead worker, or was stopped.
RUN_FAILED_CALLBACK = "flask_pdfqueue.rq_jobs.on_run_failed"
RUN_STOPPED_CALLBACK = "flask_pdfqueue.rq_jobs.on_run_stopped"
#: How long RQ keeps a finished delivery job (the outcome is in SQL anyway).
DELIVERY_RESULT_TTL = 600
#: The average job duration the estimates use: the one the stats show (SQL, the jobs
#: completed in the last hour), kept in Redis for a while so a submit costs no aggregate.
AVERAGE_KEY = "pdfqueue:average-job-seconds"
AVERAGE_TTL_SECONDS = 30
#: RQ states in which a job will still run (or is running).
LIVE_STATES = frozenset(
    {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}
)


def run_id(job_id: str, run: int) -> str:
    """The RQ job id of a job's ``run``-th run: the job id itself for the first."""
    return job_id if run <= 1 else f"{job_id}-r{run}"


def job_of_run(rq_job_id: str) -> str:
    """The job a run belongs to, read from the run's RQ job id (:func:`run_id`,
    :func:`waiting_run_id`). The RQ job carries no arguments: with none, its ``data``
    stays under Redis's 64-byte listpack limit, and a queued job takes ~600 bytes of
    Redis instead of ~1.9 KB."""
    return _RUN_SUFFIX.sub("", rq_job_id)


_RUN_SUFFIX = re.compile(r"-(r\d+|w[0-9a-f]{8})$")


def waiting_run_id(job_id: str) -> str:
    """A run of ``job_id`` that counts no retry: the one after a run that met an outage."""
    return f"{job_id}-w{uuid.uuid4().hex[:8]}"


def delivery_run_id(delivery: Delivery, *, again: bool = False) -> str:
    """The RQ job that makes ``delivery``'s next attempt: one per attempt, so none
    overwrites another still running; ``again`` for the same attempt scheduled anew
    while its first RQ job still runs."""
    attempt = f"{delivery.webhook_id.replace('.', '_')}-{delivery.attempts}"
    return f"{attempt}-{uuid.uuid4().hex[:8]}" if again else attempt


class JobQueue:
    """Enqueue runs and deliveries, and answer "where is it, and when will it be done"."""

    def __init__(
        self,
        connection: Redis,
        settings: Settings,
        average_seconds: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.connection = connection
        self.settings = settings
        self._average_seconds = average_seconds
        self.queues = {p: Queue(queue_name(p), connection=connection) for p in PRIORITIES}
        self.webhooks = Queue(DELIVERY_QUEUE, connection=connection)

    @property
    def ordered(self) -> list[Queue]:
        """The render queues in the order workers poll them."""
        return [self.queues[p] for p in PRIORITIES]

    @property
    def all(self) -> list[Queue]:
        return [*self.ordered, self.webhooks]

    def _run_options(self, rq_job_id: str) -> dict[str, Any]:
        return {
            "job_id": rq_job_id,
            "description": JOB_DESCRIPTION,
            "result_ttl": self.settings.result_ttl,
            "failure_ttl": self.settings.failure_ttl,
            "on_failure": Callback(RUN_FAILED_CALLBACK),
            "on_stopped": Callback(RUN_STOPPED_CALLBACK),
        }

    def enqueue(
        self, job_id: str, priority: str, *, rq_job_id: str | None = None, delay: float = 0
    ) -> Job:
        """Queue one run of ``job_id`` (the first unless ``rq_job_id`` names another), after
        ``delay`` seconds if given (RQ's scheduler then moves it to the queue)."""
        queue = self.queues[priority]
        options = self._run_options(rq_job_id or job_id)
        timeout = self.settings.job_timeout
        if delay > 0:
            scheduled: Job = queue.enqueue_at(
                wake_time(self.connection, queue.name, delay),
                JOB_FUNCTION,
                job_timeout=timeout,
                **options,
            )
            return scheduled
        return queue.enqueue(JOB_FUNCTION, job_timeout=timeout, **options)

    def enqueue_many(self, jobs: Sequence[tuple[str, str]]) -> None:
        """Queue the first runs of ``(job_id, priority)`` pairs in one round trip."""
        by_priority: dict[str, list[Any]] = {}
        for job_id, priority in jobs:
            data = Queue.prepare_data(
                JOB_FUNCTION,
                timeout=self.settings.job_timeout,
                **self._run_options(job_id),
            )
            by_priority.setdefault(priority, []).append(data)
        with self.connection.pipeline() as pipe:
            for priority, datas in by_priority.items():
                self.queues[priority].enqueue_many(datas, pipeline=pipe)
            pipe.execute()

    def enqueue_delivery(self, delivery: Delivery, *, delay: float = 0, again: bool = False) -> Job:
        """Queue the next attempt of ``delivery``, at once or in ``delay`` seconds
        (``again``: see :func:`delivery_run_id`)."""
        options = {
            "job_id": delivery_run_id(delivery, again=again),
            "description": DELIVERY_DESCRIPTION,
            "job_timeout": self.settings.delivery_job_timeout,
            "result_ttl": DELIVERY_RESULT_TTL,
            "failure_ttl": self.settings.failure_ttl,
        }
        if delay > 0:
            scheduled: Job = self.webhooks.enqueue_at(
                wake_time(self.connection, self.webhooks.name, delay),
                DELIVERY_FUNCTION,
                delivery.webhook_id,
                **options,
            )
            return scheduled
        return self.webhooks.enqueue(DELIVERY_FUNCTION, delivery.webhook_id, **options)

    def holds(self, rq_job_id: str) -> bool:
        """Whether RQ will still run (or is running) this RQ job."""
        try:
            job = Job.fetch(rq_job_id, connection=self.connection)
        except NoSuchJobError:
            return False
        status = job.get_status(refresh=False)
        if status == JobStatus.QUEUED:  # its entry in the list may be what Redis lost
            queue = Queue(job.origin, connection=self.connection)
            # A worker that has just taken it holds it in the queue's intermediate list
            # until it starts (RQ fails it there after a minute if the worker died).
            return (
                queue.get_job_position(job) is not None
                or self.connection.lpos(queue.intermediate_queue_key, rq_job_id) is not None
            )
        return status in LIVE_STATES

    def waiting(self) -> int:
        """Jobs waiting in the render queues (what ``PDFQUEUE_MAX_QUEUE_SIZE`` bounds)."""
        depths = queue_depths(self.connection)
        return sum(depths[queue.name] for queue in self.ordered)

    def position(self, rq_job_id: str, priority: str) -> int | None:
        """How many jobs run before this one, or None when it is no longer waiting."""
        return self.positions([(rq_job_id, priority)])[0]

    def positions(self, runs: Sequence[tuple[str, str]]) -> list[int | None]:
        """:meth:`position` of each ``(rq_job_id, priority)``, in one round trip."""
        with self.connection.pipeline(transaction=False) as pipe:
            for name in PRIORITIES:
                pipe.llen(self.queues[name].key)
            for rq_job_id, priority in runs:
                # From the tail, where a submit's own job just went: no scan of the queue.
                # (The index LPOS answers counts from the head all the same.)
                pipe.lpos(self.queues[priority].key, rq_job_id, rank=-1)
            answers = pipe.execute()
        lengths = dict(zip(PRIORITIES, answers[: len(PRIORITIES)], strict=True))
        result: list[int | None] = []
        for (_, priority), index in zip(runs, answers[len(PRIORITIES) :], strict=True):
            ahead = sum(int(lengths[p]) for p in PRIORITIES[: PRIORITIES.index(priority)])
            result.append(None if index is None else ahead + int(index))
        return result

    def estimate(self, position: int) -> datetime:
        """Now + (position + 1) x average job duration / live workers."""
        return self.estimates([position])[0]

    def estimates(self, positions: Sequence[int]) -> list[datetime]:
        """:meth:`estimate` for each position, reading workers and the average once."""
        workers = max(1, live_workers(self.connection, "render"))
        average = self.average_job_seconds()
        now = utcnow()
        return [now + timedelta(seconds=(p + 1) * average / workers) for p in positions]

    def average_job_seconds(self) -> float:
        """The stats' average job duration (``PDFQUEUE_INITIAL_JOB_SECONDS`` until a job
        completed within their window), read from SQL at most every
        :data:`AVERAGE_TTL_SECONDS`."""
        raw = self.connection.get(AVERAGE_KEY)
        if raw is not None:
            return float(raw)
        measured = self._average_seconds()
        average = measured if measured is not None else self.settings.initial_job_seconds
        self.connection.set(AVERAGE_KEY, f"{average:.3f}", ex=AVERAGE_TTL_SECONDS)
        return average
