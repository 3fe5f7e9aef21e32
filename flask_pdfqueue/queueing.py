"""RQ plumbing: the three priority queues, enqueueing with retries, position and estimate.

Workers poll ``high``, ``normal`` and ``low`` in strict order, so a job's position
counts every job waiting in a higher queue plus those ahead of it in its own. Only
the job id travels through Redis: everything else is in SQL, so nothing secret
(callback URLs carry n8n's signature token) shows up in Redis or the dashboard.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from redis import Redis
from rq import Queue, Retry, Worker
from rq.job import Job

from .config import PRIORITIES, Settings
from .timestamps import utcnow

JOB_FUNCTION = "workers.pdf_worker.generate_pdf_job"
JOB_DESCRIPTION = "generate PDF report"
AVERAGE_KEY = "pdfqueue:average-job-seconds"
#: Weight of the newest job in the moving average of job durations.
AVERAGE_WEIGHT = 0.2


def queue_name(priority: str) -> str:
    return f"pdf-{priority}"


class JobQueue:
    """Enqueue jobs and answer "where is it, and when will it be done"."""

    def __init__(self, connection: Redis, settings: Settings) -> None:
        self.connection = connection
        self.settings = settings
        self.queues = {p: Queue(queue_name(p), connection=connection) for p in PRIORITIES}

    @property
    def ordered(self) -> list[Queue]:
        """The queues in the order workers poll them."""
        return [self.queues[p] for p in PRIORITIES]

    def enqueue(self, job_id: str, priority: str) -> Job:
        max_retries = self.settings.retry_attempts
        return self.queues[priority].enqueue(
            JOB_FUNCTION,
            job_id,
            job_id=job_id,
            description=JOB_DESCRIPTION,
            job_timeout=self.settings.job_timeout,
            result_ttl=self.settings.result_ttl,
            failure_ttl=self.settings.failure_ttl,
            retry=Retry(max=max_retries, interval=list(self.settings.retry_intervals))
            if max_retries
            else None,
            meta={"max_retries": max_retries},
        )

    def waiting(self) -> int:
        """Jobs waiting in all queues (what ``PDFQUEUE_MAX_QUEUE_SIZE`` bounds)."""
        with self.connection.pipeline() as pipe:
            for queue in self.ordered:
                pipe.llen(queue.key)
            return sum(int(n) for n in pipe.execute())

    def position(self, job_id: str, priority: str) -> int | None:
        """How many jobs run before this one, or None when it is no longer waiting."""
        ahead = 0
        for name in PRIORITIES:
            queue = self.queues[name]
            if name == priority:
                index = queue.get_job_position(job_id)
                return None if index is None else ahead + index
            ahead += queue.count
        return None

    def estimate(self, position: int) -> datetime:
        """Now + (position + 1) x average job duration / live workers."""
        workers = max(1, Worker.count(connection=self.connection))
        seconds = (position + 1) * self.average_job_seconds() / workers
        return utcnow() + timedelta(seconds=seconds)

    def average_job_seconds(self) -> float:
        raw = self.connection.get(AVERAGE_KEY)
        return float(raw) if raw is not None else self.settings.initial_job_seconds

    def record_duration(self, seconds: float) -> None:
        """Fold one finished job into the moving average (a lost update here is harmless)."""
        current = self.average_job_seconds()
        updated = current + AVERAGE_WEIGHT * (seconds - current)
        self.connection.set(AVERAGE_KEY, f"{updated:.3f}")
