"""The queue's figures, read from SQL and Redis when asked (``GET /api/queue/stats``, alerts).

Nothing is counted in a process: every figure is read from the shared records at
the moment it is asked for, so every web process and worker tells the same story.

- Jobs by status (``queued`` … ``cancelled``), per priority queue and in total:
  every job SQL holds, counted by its status now (finished jobs stay until
  ``flask pdfqueue cleanup`` forgets them).
- ``waiting``: jobs in each RQ list now (what the next free worker takes; a retry
  waiting for its delay is ``queued`` in SQL but not yet in the list).
- The window (:data:`WINDOW`, the last hour): jobs that reached an outcome in it,
  by outcome (the throughput); their failure rate; and the durations (first start
  to outcome) of the jobs completed in it: the average over all of them, the
  percentiles over the latest :data:`DURATION_SAMPLE` of them.
- Workers from RQ's registrations: their role (``render`` for the priority
  queues, ``delivery`` for the webhook queue), state and heartbeat age. A worker
  silent for longer than :data:`~flask_pdfqueue.queue.rq_state.WORKER_SILENCE` (by Redis's
  clock) is dead
  (its registration outlives it for a while) and counted apart, as ``stale``.
- Webhook deliveries by state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..queue.rq_state import (
    RENDER_QUEUES,
    WorkerInfo,
    live_by_role,
    queue_depths,
    read_workers,
)
from ..records.sql.figures import (
    RECENT,
    Finished,
    JobCounts,
    delivery_counts,
    finished_since,
    job_counts,
    recent_durations,
)
from ..state import PDFQueueState
from ..timestamps import utcnow

#: The recent past that throughput, failure rate and durations cover (the estimates use
#: the same average).
WINDOW = RECENT
#: Percentiles are taken over at most this many of the latest completed jobs.
DURATION_SAMPLE = 10_000


def percentile(ordered: Sequence[float], p: float) -> float | None:
    """The nearest-rank ``p``-th percentile of ascending ``ordered`` values (None if empty):
    the smallest value that at least ``p`` % of the values do not exceed."""
    if not ordered:
        return None
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Durations:
    """How long the window's completed jobs took, in seconds."""

    samples: int
    average: float | None
    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class AlertInputs:
    """What the alerts look at: no more than that, so a worker's check stays cheap."""

    waiting: int
    finished: Finished
    live_workers: dict[str, int]


def alert_inputs(state: PDFQueueState, now: datetime | None = None) -> AlertInputs:
    now = now or utcnow()
    depths = queue_depths(state.redis)
    return AlertInputs(
        waiting=sum(depths[name] for name in RENDER_QUEUES),
        finished=finished_since(state.jobs.engine, now - WINDOW),
        live_workers=live_by_role(read_workers(state.redis)),
    )


@dataclass(frozen=True)
class Stats:
    """Everything ``GET /api/queue/stats`` tells, as read at ``generated_at``."""

    generated_at: datetime
    window: timedelta
    depths: dict[str, int]
    jobs: JobCounts
    finished: Finished
    durations: Durations
    workers: list[WorkerInfo]
    deliveries: dict[str, int]

    @property
    def alert_inputs(self) -> AlertInputs:
        return AlertInputs(
            waiting=sum(self.depths[name] for name in RENDER_QUEUES),
            finished=self.finished,
            live_workers=live_by_role(self.workers),
        )


def collect(state: PDFQueueState, now: datetime | None = None) -> Stats:
    """Read every figure now (a few aggregate queries and two Redis round trips)."""
    now = now or utcnow()
    since = now - WINDOW
    engine = state.jobs.engine
    finished = finished_since(engine, since)
    ordered = sorted(recent_durations(engine, since, limit=DURATION_SAMPLE))
    durations = Durations(
        samples=len(ordered),
        average=finished.average_seconds,
        p50=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
    )
    return Stats(
        generated_at=now,
        window=WINDOW,
        depths=queue_depths(state.redis),
        jobs=job_counts(engine),
        finished=finished,
        durations=durations,
        workers=read_workers(state.redis),
        deliveries=delivery_counts(engine),
    )
