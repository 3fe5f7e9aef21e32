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
- ``Idempotency-Key`` answers older than 24 hours are forgotten.

Rows touched within the grace period are left alone: they are in someone's hands.
So is a run seen missing from RQ for the first time: a worker polling several
queues takes a job with ``BLPOP`` and holds it in no list until it starts it, so a
run counts as lost only when a later round, the visibility window after the first
sighting (by Redis's clock), finds it missing still.
A row whose submit died before queuing it is run like any lost job (its caller may
have had no answer, but the report's job must not stay queued for ever).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from .attempts import settle_failed_run
from .delivery.dispatch import dispatch
from .errors import WorkerLost
from .extension import PDFQueueState
from .outages import open_outages
from .steps.record import mirror_outcome
from .timestamps import redis_now, utcnow

log = logging.getLogger(__name__)

LOCK_KEY = "pdfqueue:reconcile-lock"
#: How long a row must be untouched before the reconciler judges it.
GRACE = timedelta(seconds=30)
#: How long a run must stay missing from RQ before it counts as lost.
VISIBILITY_WINDOW = timedelta(seconds=10)
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
    idempotency_keys_forgotten: int = 0

    @property
    def changed_anything(self) -> bool:
        return any(vars(self).values())


def reconcile(state: PDFQueueState) -> ReconcileReport:
    """One round over jobs, deliveries and mirrors (safe to run anywhere, any time)."""
    report = ReconcileReport()
    idle_before = utcnow() - GRACE
    for job in state.jobs.active(idle_before=idle_before):
        run = job.rq_job_id or job.job_id
        if state.queue.holds(run) or not _missing_for_the_window(state, run):
            continue
        if job.status == "processing":
            log.warning("reconcile: job %s lost its run %s", job.job_id, run)
            settle_failed_run(state, job.job_id, run, WorkerLost("the job's run was lost"))
            report.runs_lost += 1
        elif state.jobs.requeue(job.job_id, run=run):
            log.warning("reconcile: job %s was not in Redis; queued again", job.job_id)
            state.queue.enqueue(job.job_id, job.priority, rq_job_id=run)
            report.jobs_requeued += 1

    released = state.deliveries.release_expired(lease=state.settings.webhook_lease)
    report.claims_released = len(released)
    overdue = [
        delivery
        for delivery in state.deliveries.overdue(due_before=idle_before)
        if not state.queue.holds(delivery.rq_job_id)
    ]
    dispatch(state, [*released, *overdue])
    report.deliveries_queued = len(released) + len(overdue)

    if not any(o.dependency == "mongo" for o in open_outages(state.redis)):
        # (during a MongoDB outage each mirror would wait out its timeout: later)
        for job in state.jobs.mirror_lagging(idle_before=idle_before):
            mirror_outcome(state, job.job_id)
            report.mirrors_written += 1
    report.idempotency_keys_forgotten = state.idempotency.forget_expired()
    if report.changed_anything:
        log.info("reconcile: %s", report)
    return report


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
    """Run a round unless one ran (anywhere) within the reconcile interval."""
    interval = state.settings.reconcile_interval
    if not state.redis.set(LOCK_KEY, owner, nx=True, ex=interval):
        return None
    return reconcile(state)
