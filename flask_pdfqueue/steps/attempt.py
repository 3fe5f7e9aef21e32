"""One attempt at a job, and what its failure means.

RQ retries a failed job while ``retries_left`` allows. An attempt that fails with
retries left is noted (``queued`` again, with the reason); only the last attempt
records ``failed`` and sends the failure webhook, with ``retry_count`` = the
retries made. The exception is re-raised either way, so RQ does the retrying.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from pymongo.errors import PyMongoError
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import SQLAlchemyError

from ..errors import JobFailure, RenderTimeout, ServiceUnavailable, WorkerLost
from ..extension import PDFQueueState
from ..records.sql import JobRecord
from . import notify, record

log = logging.getLogger(__name__)


class JobNotRecorded(LookupError):
    """RQ handed over a job id that SQL does not know (nothing to record it against)."""


@dataclass
class Attempt:
    """The running attempt: its record, and whether it has anything left to do."""

    state: PDFQueueState
    record: JobRecord
    retry_count: int
    already_finished: bool
    started: float = field(default_factory=time.monotonic)

    def reached(self, stage: str) -> None:
        record.record_stage(self.state, self.record, stage)


def classify(exc: BaseException, timeout: int) -> JobFailure:
    """Turn whatever went wrong into a failure with a code and a sentence."""
    if isinstance(exc, JobFailure):
        return exc
    if isinstance(exc, JobTimeoutException):
        return RenderTimeout(f"the job took longer than its {timeout} s timeout")
    if isinstance(exc, (PyMongoError, SQLAlchemyError, RedisError)):
        return ServiceUnavailable(f"a backing service failed: {type(exc).__name__}: {exc}")
    return JobFailure(f"unexpected error: {type(exc).__name__}: {exc}")


def _retries_made(job: Job | None) -> int:
    if job is None or job.retries_left is None:
        return 0
    return max(0, int(job.meta.get("max_retries", 0)) - int(job.retries_left))


@contextmanager
def job_attempt(state: PDFQueueState, job_id: str) -> Iterator[Attempt]:
    """Start an attempt at ``job_id``; on failure record it as a retry or as the end."""
    current = state.jobs.get(job_id)
    if current is None:
        raise JobNotRecorded(f"job {job_id} has no row in pdf_job_results")
    rq_job = get_current_job()
    retry_count = _retries_made(rq_job)
    started = record.record_started(state, current, retry_count)
    attempt = Attempt(state, current, retry_count, already_finished=not started)
    try:
        yield attempt
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        failure = classify(exc, state.settings.job_timeout)
        final = rq_job is None or not rq_job.should_retry
        if final:
            _fail_for_good(state, current, failure, retry_count)
        else:
            log.warning("job %s attempt failed, will retry: %s", job_id, failure.message)
            record.record_retry(
                state,
                current,
                error_message=failure.message,
                error_code=failure.error_code,
                retry_count=retry_count,
            )
        raise
    else:
        if not attempt.already_finished:
            state.queue.record_duration(time.monotonic() - attempt.started)


def record_lost(state: PDFQueueState, job: Job, reason: str) -> None:
    """The last attempt died without recording anything: record ``failed`` and announce it.

    Does nothing when the job already has its outcome (the attempt recorded it itself).
    """
    current = state.jobs.get(job.id)
    if current is None or current.is_terminal:
        return
    failure = WorkerLost(f"the worker running the job died: {reason.strip() or 'no reason given'}")
    _fail_for_good(state, current, failure, _retries_made(job))


def _fail_for_good(
    state: PDFQueueState, current: JobRecord, failure: JobFailure, retry_count: int
) -> None:
    """Record the final failure; the run that records it sends the failure webhook."""
    log.error("job %s failed for good: %s", current.job_id, failure.message)
    if record.record_failed(
        state,
        current,
        status="failed",
        error_message=failure.message,
        error_code=failure.error_code,
        retry_count=retry_count,
    ):
        notify.announce(state, current.job_id)
