"""Cancelling a job: record it ``cancelled`` first, then take its run out of RQ.

Recording first makes the outcome one and only one: the job's run, if it is
running, finds the job ended at its next stage and stores nothing, and RQ's stop
callback then has nothing left to settle (it never turns into ``worker_lost``).
The cancellation is announced once, on the failure callback.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from ..errors import Cancelled
from ..records.sql import JobRecord
from ..state import PDFQueueState
from .attempts import finish_failed

log = logging.getLogger(__name__)


class AlreadyFinished(Exception):
    """The job has its outcome; nothing to cancel."""

    def __init__(self, record: JobRecord) -> None:
        super().__init__(f"job {record.job_id} is {record.status}")
        self.record = record


def cancel(state: PDFQueueState, record: JobRecord) -> JobRecord:
    """Cancel a queued or running job; the job as recorded afterwards."""
    if record.is_terminal:
        raise AlreadyFinished(record)
    cancelled = Cancelled("the job was cancelled")
    if not finish_failed(state, record.job_id, cancelled, status="cancelled"):
        raise AlreadyFinished(state.jobs.get(record.job_id) or record)
    _stop_run(state, record.rq_job_id or record.job_id)
    after = state.jobs.get(record.job_id)
    assert after is not None
    return after


def _stop_run(state: PDFQueueState, run: str) -> None:
    """Take the run out of its queue or scheduled set, or stop it where it runs."""
    try:
        job = Job.fetch(run, connection=state.redis)
        if job.get_status() == JobStatus.STARTED:
            send_stop_job_command(state.redis, run)
        else:
            job.cancel()
    except (NoSuchJobError, InvalidJobOperation):
        pass  # gone or already over: the run finds the job cancelled, if it starts at all
    except RedisError as exc:
        log.warning("job run %s not stopped in RQ (it will stop itself): %s", run, exc)
