"""The reconciler: brings SQL's promises and RQ's state back together.

SQL is the record of what was promised; Redis is only a work queue, and can lose
work (an AOF's last second, a flushed or replaced server, a worker parent killed
mid-job). Every ``PDFQUEUE_RECONCILE_INTERVAL`` seconds one worker (a Redis lock
makes it one across machines) runs :func:`reconcile`; ``flask pdfqueue
reconcile`` runs it by hand. Each round:

- an active job whose current run RQ has held nowhere for the visibility window
  is run again: a ``queued`` one as it was, a ``processing`` one as a lost attempt
  (retried while retries remain, else failed as ``worker_lost`` and announced);
- delivery claims whose lease ran out are released, and owed deliveries with no
  delivery job are queued;
- report documents whose ``pdf_generation`` lags SQL are written again (not while
  the workers have MongoDB in an outage: each write would wait out its timeout);
  one MongoDB refuses while it answers is the row's own trouble;
- ``Idempotency-Key`` answers older than 24 hours are forgotten.

Rows touched within the grace period are left alone: they are in someone's hands.
A row that fails for a reason of its own waits (:data:`BACKOFF_FIRST`, doubling up
to :data:`BACKOFF_MAX`) while the others go on; a store that does not answer ends
the round.
So is a run seen missing from RQ for the first time: a worker polling several
queues takes a job with ``BLPOP`` and holds it in no list until it starts it, so a
run counts as lost only when a later round, the visibility window after the first
sighting (by Redis's clock), finds it missing still.
A row whose submit died before queuing it is run like any lost job (its caller may
have had no answer, but the report's job must not stay queued for ever).

A round never stalls the worker that runs it: it stops after :data:`ROUND_SECONDS`
(what is left waits for the next round), stops mirroring at the first document
MongoDB does not take, and holds a lease (:data:`LEASE_KEY`, renewed while it runs,
released only by its holder) so no second round starts beside a slow one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from ..errors import CutByOutage, JobFailure, WorkerLost
from ..queue.queues import delivery_run_id
from ..records.sql import JobRecord
from ..state import PDFQueueState
from ..timestamps import redis_now
from .attempts import settle_failed_run
from .delivery.dispatch import dispatch
from .outages import NAMES, answers, cut_by, open_outages
from .steps.record import mirror_outcome

log = logging.getLogger(__name__)

LOCK_KEY = "pdfqueue:reconcile-lock"
#: Held while a round runs: its holder's token, for :data:`LEASE_SECONDS` at a time.
LEASE_KEY = "pdfqueue:reconcile-lease"
LEASE_SECONDS = 60
#: A round's time budget.
ROUND_SECONDS = 20.0
#: How long a row must be untouched before the reconciler judges it.
GRACE = timedelta(seconds=30)
#: How long a run must stay missing from RQ before it counts as lost.
VISIBILITY_WINDOW = timedelta(seconds=10)
#: How long a row the reconciler failed on waits before it is tried again: doubling with
#: each failure (counted for a day), up to the maximum.
BACKOFF_FIRST = timedelta(minutes=1)
BACKOFF_MAX = timedelta(hours=1)
BACKOFF_KEY = "pdfqueue:reconcile-backoff:{row}"
FAILURES_KEY = "pdfqueue:reconcile-failures:{row}"
FAILURES_TTL = 24 * 3600
#: When a run was first seen missing (Redis time, seconds); forgotten after a day.
MISSING_KEY = "pdfqueue:missing:{run}"
MISSING_KEY_TTL = 24 * 3600


@dataclass
class ReconcileReport:
    """What one round did, for logs and the CLI."""

    jobs_requeued: int = 0
    runs_lost: int = 0
    claims_released: int = 0
    deliveries_queued: int = 0
    mirrors_written: int = 0
    rows_backed_off: int = 0
    idempotency_keys_forgotten: int = 0
    webhook_claims_forgotten: int = 0

    @property
    def changed_anything(self) -> bool:
        return any(vars(self).values())


class _Round:
    """A round's clock and lease: :meth:`go_on` is False once the budget is spent, and
    renews the lease (when there is one) on the way."""

    def __init__(self, state: PDFQueueState, budget: float, lease: str | None) -> None:
        self.state = state
        self.deadline = time.monotonic() + budget
        self.lease = lease
        self.renewed = time.monotonic()
        self.cut_short = False

    def go_on(self) -> bool:
        now = time.monotonic()
        if now >= self.deadline:
            self.cut_short = True
            return False
        if self.lease is not None and now - self.renewed > LEASE_SECONDS / 3:
            self.state.redis.eval(_RENEW_IF_HELD, 1, LEASE_KEY, self.lease, LEASE_SECONDS * 1000)
            self.renewed = now
        return True


def reconcile(
    state: PDFQueueState, *, budget: float = ROUND_SECONDS, lease: str | None = None
) -> ReconcileReport:
    """One round over jobs, deliveries and mirrors (safe to run anywhere, any time), for
    ``budget`` seconds at most; ``lease``: the token of the lease it holds, if any."""
    report = ReconcileReport()
    round_ = _Round(state, budget, lease)
    idle_before = state.jobs.clock.now() - GRACE
    _bring_back_lost_runs(state, round_, report, idle_before)

    released = state.deliveries.release_expired(lease=state.settings.webhook_lease)
    report.claims_released = len(released)
    overdue = [
        delivery
        for delivery in state.deliveries.overdue(due_before=idle_before)
        if not state.queue.holds(delivery_run_id(delivery))
    ]
    dispatch(state, [*released, *overdue])
    report.deliveries_queued = len(released) + len(overdue)

    if not any(o.dependency == "mongo" for o in open_outages(state.redis)):
        # (during a MongoDB outage each mirror would wait out its timeout: later)
        _mirror_lagging(state, round_, report, idle_before)
    report.idempotency_keys_forgotten = state.idempotency.forget_expired()
    report.webhook_claims_forgotten = state.webhook_claims.forget_expired()
    if report.changed_anything or round_.cut_short:
        log.info("reconcile%s: %s", " (cut short)" if round_.cut_short else "", report)
    return report


def _bring_back_lost_runs(
    state: PDFQueueState, round_: _Round, report: ReconcileReport, idle_before: datetime
) -> None:
    """Run again each active job whose run RQ lost. A row that fails for a reason of its own
    waits with backoff; a store that does not answer ends the round."""
    for job in _rows_to_try(state, round_, "job", state.jobs.active(idle_before=idle_before)):
        try:
            _bring_back(state, job, report)
        except (RedisError, OperationalError):
            raise
        except Exception:
            log.exception("reconcile: job %s could not be dealt with", job.job_id)
            _back_off(state, f"job:{job.job_id}")
            report.rows_backed_off += 1


def _bring_back(state: PDFQueueState, job: JobRecord, report: ReconcileReport) -> None:
    run = job.rq_job_id or job.job_id
    if state.queue.holds(run) or not _missing_for_the_window(state, run):
        return
    if job.status == "processing":
        log.warning("reconcile: job %s lost its run %s", job.job_id, run)
        dependency = cut_by(state.redis, run)
        failure: JobFailure = (
            CutByOutage(f"{NAMES[dependency]} did not answer") if dependency
            else WorkerLost("the job's run was lost")
        )  # fmt: skip
        settle_failed_run(state, job.job_id, run, failure)
        report.runs_lost += 1
    elif state.jobs.requeue(job.job_id, run=run):
        log.warning("reconcile: job %s was not in Redis; queued again", job.job_id)
        state.queue.enqueue(job.job_id, job.priority, rq_job_id=run)
        report.jobs_requeued += 1


def _mirror_lagging(
    state: PDFQueueState, round_: _Round, report: ReconcileReport, idle_before: datetime
) -> None:
    lagging = state.jobs.mirror_lagging(idle_before=idle_before)
    for job in _rows_to_try(state, round_, "mirror", lagging):
        if mirror_outcome(state, job.job_id):
            report.mirrors_written += 1
        elif not answers(state, "mongo"):
            break  # MongoDB is down: the others wait for the next round
        else:
            _back_off(state, f"mirror:{job.job_id}")
            report.rows_backed_off += 1


def _rows_to_try(
    state: PDFQueueState, round_: _Round, kind: str, jobs: list[JobRecord]
) -> Iterator[JobRecord]:
    """The jobs whose ``kind`` of row is not waiting after a failure, while the round's
    budget lasts (one round trip for all the waits)."""
    with state.redis.pipeline(transaction=False) as pipe:
        for job in jobs:
            pipe.exists(BACKOFF_KEY.format(row=f"{kind}:{job.job_id}"))
        waits = pipe.execute()
    for job, waiting in zip(jobs, waits, strict=True):
        if not round_.go_on():
            return
        if not waiting:
            yield job


def _back_off(state: PDFQueueState, row: str) -> None:
    failures = int(state.redis.incr(FAILURES_KEY.format(row=row)))
    state.redis.expire(FAILURES_KEY.format(row=row), FAILURES_TTL)
    wait = min(BACKOFF_FIRST * 2 ** (failures - 1), BACKOFF_MAX)
    state.redis.set(BACKOFF_KEY.format(row=row), failures, ex=wait)
    log.warning("reconcile: %s failed %d time(s); next try in %s", row, failures, wait)


def _missing_for_the_window(state: PDFQueueState, run: str) -> bool:
    """Note that ``run`` is missing from RQ now; True once it has been for the window
    (and then the sighting is forgotten: the run is dealt with)."""
    now = redis_now(state.redis).timestamp()
    key = MISSING_KEY.format(run=run)
    state.redis.set(key, now, nx=True, ex=MISSING_KEY_TTL)
    first_seen = float(state.redis.get(key) or now)
    if now - first_seen < VISIBILITY_WINDOW.total_seconds():
        return False
    state.redis.delete(key)
    return True


def reconcile_if_due(state: PDFQueueState, owner: str) -> ReconcileReport | None:
    """Run a round unless one ran (anywhere) within the reconcile interval, or one is
    still running."""
    interval = state.settings.reconcile_interval
    token = f"{owner}:{uuid.uuid4().hex}"
    if not state.redis.set(LEASE_KEY, token, nx=True, ex=LEASE_SECONDS):
        return None
    try:
        if not state.redis.set(LOCK_KEY, owner, nx=True, ex=interval):
            return None
        return reconcile(state, lease=token)
    finally:
        state.redis.eval(_DELETE_IF_HELD, 1, LEASE_KEY, token)


#: Extend KEYS[1] by ARGV[2] ms only while it holds ARGV[1]; delete it only then.
_RENEW_IF_HELD = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_DELETE_IF_HELD = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
