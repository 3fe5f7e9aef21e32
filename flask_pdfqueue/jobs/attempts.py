"""One attempt at a job, and what its failure means: a retry, or the job's end.

SQL keeps the count: ``retry_count`` is the retries made, and every failed run
comes through :func:`settle_failed_run`, however it failed:

- the job function raised: RQ's ``on_failure`` callback, in the work horse;
- the work horse died (OOM killer, ``kill -9``, the hard timeout): the worker's
  ``work_horse_killed_handler``, in the worker parent;
- the worker parent died: RQ's abandoned-job cleanup calls ``on_failure``;
- RQ lost the run altogether (Redis flushed or replaced): the reconciler.

A failure that retrying cannot fix (``report_not_found``, ``template_error``), or
one after the last retry, is the job's outcome, announced at once. Otherwise the
job goes back to ``queued`` and its next run is scheduled after the configured
interval. A stopped run (the cancel endpoint) ends the job as ``cancelled``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import timedelta

from pymongo.errors import ConnectionFailure, PyMongoError
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import AbandonedJobError
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from ..errors import (
    Cancelled,
    CutByOutage,
    DependencyUnavailable,
    JobFailure,
    RenderTimeout,
    ServiceUnavailable,
    StorageError,
    WorkerLost,
)
from ..queue.queues import run_id, waiting_run_id
from ..records.sql import JobRecord
from ..state import PDFQueueState
from ..timestamps import redis_now
from . import outages
from .steps import notify, record
from .tracing import traced

log = logging.getLogger(__name__)

#: A run that met an outage is queued again this much later (workers pause meanwhile).
OUTAGE_REQUEUE_SECONDS = 5
#: How long noting the wait in the report document may take (MongoDB may be the outage).
OUTAGE_MIRROR_SECONDS = 1.0


def classify(exc: BaseException | None, timeout: int) -> JobFailure:
    """Turn whatever went wrong into a failure with a code and a sentence; a dependency
    that does not answer is an outage (:class:`DependencyUnavailable`)."""
    if type(exc) is StorageError:  # transient by nature: its subclasses are for good
        return DependencyUnavailable("storage", exc.message)
    if isinstance(exc, JobFailure):
        return exc
    if isinstance(exc, ConnectionFailure):
        return DependencyUnavailable("mongo", "MongoDB did not answer")
    if isinstance(exc, OperationalError | InterfaceError):
        return DependencyUnavailable("sql", "the SQL database did not answer")
    if isinstance(exc, JobTimeoutException):
        return RenderTimeout(f"the job took longer than its {timeout} s timeout")
    if isinstance(exc, AbandonedJobError):
        return WorkerLost("the worker running the job stopped answering")
    if isinstance(exc, PyMongoError):
        return ServiceUnavailable("MongoDB did not answer")
    if isinstance(exc, SQLAlchemyError):
        return ServiceUnavailable("the SQL database did not answer")
    if isinstance(exc, RedisError):
        return ServiceUnavailable("Redis did not answer")
    return JobFailure(f"unexpected error: {type(exc).__name__}")


@dataclass
class Attempt:
    """The running attempt at one job: its record as it began, and its RQ run."""

    state: PDFQueueState
    job: JobRecord
    run: str
    started: float = field(default_factory=time.monotonic)

    def reached(self, stage: str) -> bool:
        """Record the stage; False when the run must stop here (the job was cancelled)."""
        log.info(
            "job %s %s (run %s, %.2f s in)",
            self.job.job_id,
            stage,
            self.run,
            time.monotonic() - self.started,
        )
        return record.record_stage(self.state, self.job, self.run, stage)

    def cancelled(self) -> bool:
        """Whether the job was cancelled (a run that is merely stale may still finish it)."""
        current = self.state.jobs.get(self.job.job_id)
        return current is not None and current.status == "cancelled"


def begin_attempt(state: PDFQueueState, job_id: str) -> Attempt | None:
    """Start an attempt, or None when there is nothing to do.

    Nothing to do: SQL does not know the job (its submit was rolled back), the
    job already has its outcome (RQ ran it twice; then the report document is
    brought in line with SQL, in case the earlier run died before mirroring it),
    or this run is no longer the job's current one.
    """
    rq_job = get_current_job()
    run = rq_job.id if rq_job is not None else job_id
    current = state.jobs.get(job_id)
    if current is None:
        log.error("job %s has no row in pdf_job_results; nothing to do", job_id)
        return None
    if current.is_terminal:
        if current.mirror_pending:
            record.mirror_outcome(state, job_id)
        return None
    if not record.record_started(state, current, run):
        log.warning("job %s: run %s is not the current one; nothing to do", job_id, run)
        return None
    with traced(current.traceparent):
        log.info("job %s loading (run %s, retry %d)", job_id, run, current.retry_count)
    return Attempt(state, current, run)


def settle_failed_run(state: PDFQueueState, job_id: str, run: str, failure: JobFailure) -> None:
    """Record what a failed run means for its job: the next run, or the job's failure.

    Only the job's current run is settled, and only while the job is active, so a
    run reported twice (a callback, then the reconciler) counts once. A dependency
    that did not answer is probed, and when it still does not, reported down first (it
    may be SQL itself): within the outage grace the job waits for it, uncounted, and
    past it fails. One that answers the probe had no outage: the failure is the job's
    own (a full disk the folder probe cannot see), retried and counted like any, so no
    job waits for ever on a failure of its own.
    """
    waits = over = False
    if isinstance(failure, DependencyUnavailable) and not outages.answers(
        state, failure.dependency
    ):
        outage = outages.report_down(state.redis, failure.dependency, failure.message)
        grace = timedelta(seconds=state.settings.outage_grace)
        waits = outage.age(redis_now(state.redis)) < grace
        over = not waits
    current = state.jobs.get(job_id)
    if current is None or current.is_terminal or current.rq_job_id != run:
        return
    settings = state.settings
    with traced(current.traceparent):
        if isinstance(failure, Cancelled):
            finish_failed(state, job_id, failure, status="cancelled")
        elif waits or isinstance(failure, CutByOutage):
            _wait_for_dependency(state, current, run, failure)
        elif over or not failure.retryable or current.retry_count >= settings.retry_attempts:
            finish_failed(state, job_id, failure)
        else:
            _retry(state, current, run, failure)


def finish_failed(
    state: PDFQueueState, job_id: str, failure: JobFailure, *, status: str = "failed"
) -> bool:
    """Record the job's failure (or cancellation) and announce it; False when the job
    had its outcome already."""
    owed = record.record_failed(
        state,
        job_id,
        status=status,
        error_message=failure.message,
        error_code=failure.error_code,
    )
    if owed is not None:
        log.error("job %s %s for good: %s", job_id, status, failure.message)
    notify.announce(state, owed)
    return owed is not None


def _retry(state: PDFQueueState, current: JobRecord, run: str, failure: JobFailure) -> None:
    retries_made = current.retry_count + 1
    next_run = run_id(current.job_id, retries_made + 1)
    if not state.jobs.schedule_retry(
        current.job_id,
        from_run=run,
        next_run=next_run,
        error_message=failure.message,
        error_code=failure.error_code,
    ):
        return
    delay = state.settings.retry_intervals[retries_made - 1]
    log.warning(
        "job %s attempt failed, retry %d in %d s: %s",
        current.job_id,
        retries_made,
        delay,
        failure.message,
    )
    record.note_in_report(
        state, current, status="queued", retry_count=retries_made, error_message=failure.message
    )
    try:
        state.queue.enqueue(current.job_id, current.priority, rq_job_id=next_run, delay=delay)
    except RedisError as exc:  # the row says queued: the reconciler brings the run back
        log.warning("job %s: retry not queued now: %s", current.job_id, type(exc).__name__)


def _wait_for_dependency(
    state: PDFQueueState, current: JobRecord, run: str, failure: JobFailure
) -> None:
    """Back to the queue under a new run, no retry counted: the outage is not the job's."""
    next_run = waiting_run_id(current.job_id)
    if not state.jobs.schedule_retry(
        current.job_id,
        from_run=run,
        next_run=next_run,
        error_message=f"waiting: {failure.message}",
        error_code=failure.error_code,
        counted=False,
    ):
        return
    log.warning("job %s waits for the outage to end (no retry counted): %s", current.job_id,
                failure.message)  # fmt: skip
    record.note_in_report(
        state,
        current,
        within=OUTAGE_MIRROR_SECONDS,
        status="queued",
        retry_count=current.retry_count,
        error_message=f"waiting: {failure.message}",
    )
    try:  # a moment later: the workers pause meanwhile, or take it again if it is over
        state.queue.enqueue(
            current.job_id, current.priority, rq_job_id=next_run, delay=OUTAGE_REQUEUE_SECONDS
        )
    except RedisError as exc:  # the row says queued: the reconciler brings the run back
        log.warning("job %s: not queued again now: %s", current.job_id, type(exc).__name__)


def settle_reported_run(state: PDFQueueState, job_id: str, run: str, failure: JobFailure) -> None:
    """Settle a run RQ reports on; a failure to record is logged, never raised into RQ
    (the reconciler settles the run later). When it was an outage that cut the run and
    kept it from being recorded, Redis remembers that, so the reconciler runs the job
    again without counting a retry."""
    try:
        settle_failed_run(state, job_id, run, failure)
    except Exception:
        log.exception("job %s: could not record the failed run %s", job_id, run)
        if isinstance(failure, DependencyUnavailable):
            with contextlib.suppress(RedisError):
                outages.note_cut_run(state.redis, run, failure.dependency)


def death_of(status: int | None) -> str:
    """How a process ended, from its ``wait`` status (None: nobody could ask any more)."""
    if status is None:
        return "its exit status was already collected"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"
