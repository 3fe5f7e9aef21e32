"""One attempt at a job, and what its failure means.

RQ retries a failed job while ``retries_left`` allows. An attempt that fails with
retries left is noted (``queued`` again, with the reason); only the last attempt
records ``failed`` and sends the failure webhook, with ``retry_count`` = the
retries made. The exception is re-raised either way, so RQ does the retrying.
A work horse that dies without reaching that code is covered by
:func:`record_lost`, which the worker calls.
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

from .errors import JobFailure, RenderTimeout, ServiceUnavailable, WorkerLost
from .extension import PDFQueueState
from .records.sql import JobRecord
from .steps import notify, record

log = logging.getLogger(__name__)


def classify(exc: BaseException, timeout: int) -> JobFailure:
    """Turn whatever went wrong into a failure with a code and a sentence."""
    if isinstance(exc, JobFailure):
        return exc
    if isinstance(exc, JobTimeoutException):
        return RenderTimeout(f"the job took longer than its {timeout} s timeout")
    if isinstance(exc, PyMongoError):
        return ServiceUnavailable("MongoDB did not answer")
    if isinstance(exc, SQLAlchemyError):
        return ServiceUnavailable("the SQL database did not answer")
    if isinstance(exc, RedisError):
        return ServiceUnavailable("Redis did not answer")
    return JobFailure(f"unexpected error: {type(exc).__name__}")


def _retries_made(job: Job | None) -> int:
    if job is None or job.retries_left is None:
        return 0
    return max(0, int(job.meta.get("max_retries", 0)) - int(job.retries_left))


@dataclass
class Attempt:
    """The running attempt at one job."""

    state: PDFQueueState
    job: JobRecord
    rq_job: Job | None
    retry_count: int
    started: float = field(default_factory=time.monotonic)

    def reached(self, stage: str) -> None:
        record.record_stage(self.state, self.job, stage)

    @contextmanager
    def failures_recorded(self) -> Iterator[None]:
        """Record a failure as a retry to come, or as the job's end; then re-raise it.

        If recording fails too (SQL down), that is logged and the original exception
        still goes to RQ, which retries the job or gives up on it.
        """
        try:
            yield
        except Exception as exc:
            failure = classify(exc, self.state.settings.job_timeout)
            try:
                if self.rq_job is None or not self.rq_job.should_retry:
                    _fail_for_good(self.state, self.job, failure, self.retry_count)
                else:
                    log.warning("job %s attempt failed, will retry: %s", self.job.job_id, failure)
                    record.record_retry(
                        self.state,
                        self.job,
                        error_message=failure.message,
                        error_code=failure.error_code,
                        retry_count=self.retry_count,
                    )
            except Exception:
                log.exception("job %s: could not record its failure", self.job.job_id)
            raise
        try:
            self.state.queue.record_duration(time.monotonic() - self.started)
        except RedisError:
            log.warning("job %s: could not update the average job duration", self.job.job_id)


def begin_attempt(state: PDFQueueState, job_id: str) -> Attempt | None:
    """Start an attempt, or None when there is nothing to do.

    Nothing to do: SQL does not know the job (its submit was rolled back), or the
    job already has its outcome (RQ ran it twice); then the report document is
    brought in line with SQL, in case the earlier run died before mirroring it.
    """
    current = state.jobs.get(job_id)
    if current is None:
        log.error("job %s has no row in pdf_job_results; nothing to do", job_id)
        return None
    rq_job = get_current_job()
    retry_count = _retries_made(rq_job)
    if not record.record_started(state, current, retry_count):
        record.mirror_outcome(state, job_id)
        return None
    return Attempt(state, current, rq_job, retry_count)


def record_lost(state: PDFQueueState, job: Job, reason: str, *, final: bool) -> None:
    """The work horse died without recording anything (killed, out of memory, hard timeout).

    On the last attempt the job is recorded ``failed`` (``worker_lost``) and announced;
    with retries left it goes back to ``queued`` with that reason, as RQ retries it.
    A job that already has its outcome only gets its owed webhook, if any.
    """
    current = state.jobs.get(job.id)
    if current is None:
        return
    if current.is_terminal:
        notify.announce(state, job.id)
        return
    why = reason.strip().rstrip(";") or "no reason given"
    failure = WorkerLost(f"the worker running the job died ({why})")
    if final:
        _fail_for_good(state, current, failure, _retries_made(job))
    else:
        record.record_retry(
            state,
            current,
            error_message=failure.message,
            error_code=failure.error_code,
            retry_count=_retries_made(job),
        )


def _fail_for_good(
    state: PDFQueueState, current: JobRecord, failure: JobFailure, retry_count: int
) -> None:
    """Record the final failure and send the failure webhook it owes."""
    log.error("job %s failed for good: %s", current.job_id, failure.message)
    record.record_failed(
        state,
        current,
        status="failed",
        error_message=failure.message,
        error_code=failure.error_code,
        retry_count=retry_count,
    )
    notify.announce(state, current.job_id)
