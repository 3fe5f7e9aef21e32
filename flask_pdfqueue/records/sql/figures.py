"""Aggregates over the queue's tables for stats, alerts and ``/metrics``: one query each.

Every query here is an aggregate answered from an index alone (migration 0004 adds
the two it needs), so reading figures costs an index scan, never the rows:

- ``idx_status_priority_started`` (status, priority, started_at): jobs by status and
  priority, and how many of each ever started;
- ``idx_status_completed_started`` (status, completed_at, started_at): jobs that
  finished in a window, their durations, and the duration histogram.

A job's duration is ``completed_at - started_at``: from the start of its first
attempt to its outcome, so retries and the waits between them count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Float, and_, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from ...timestamps import utcnow
from .delivery_rows import DELIVERY_STATES, pdf_webhook_deliveries
from .job_rows import STATUSES, TERMINAL, pdf_job_results

#: The window of the recent figures: jobs that reached an outcome in the last hour.
RECENT = timedelta(hours=1)

_jobs = pdf_job_results.c


class seconds_between(FunctionElement[float]):
    """``end - start`` in seconds (a float) in each dialect's own spelling."""

    type = Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    # SQLite keeps milliseconds; rounding to them drops julianday()'s float noise (~40 us),
    # which would move a duration on a bucket's bound to the next bucket.
    return f"ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({end} - {start})) AS DOUBLE PRECISION)"


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _seconds_mysql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"(TIMESTAMPDIFF(MICROSECOND, {start}, {end}) / 1000000.0)"


def job_seconds() -> ColumnElement[float]:
    """A job's duration in seconds (SQL), from its first start to its outcome."""
    return seconds_between(_jobs.started_at, _jobs.completed_at)


@dataclass(frozen=True)
class JobCounts:
    """Jobs in SQL now, by status and by priority; how many of each status ever started."""

    by_priority: dict[str, dict[str, int]]
    started: dict[str, int]

    def status(self, status: str, priority: str | None = None) -> int:
        """Jobs in ``status`` (of one priority, or all)."""
        if priority is not None:
            return self.by_priority.get(priority, {}).get(status, 0)
        return sum(counts.get(status, 0) for counts in self.by_priority.values())

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.by_priority.values())

    @property
    def ever_started(self) -> int:
        return sum(self.started.values())


def status_counts(engine: Engine, job_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Jobs by status now: all of them, or those of ``job_ids``."""
    query = select(_jobs.status, func.count()).group_by(_jobs.status)
    if job_ids is not None:
        query = query.where(_jobs.job_id.in_(list(job_ids)))
    with engine.connect() as conn:
        return {str(status): int(count) for status, count in conn.execute(query)}


def job_counts(engine: Engine) -> JobCounts:
    """Every job counted once, by status and priority (an index-only scan)."""
    query = select(
        _jobs.status, _jobs.priority, func.count(), func.count(_jobs.started_at)
    ).group_by(_jobs.status, _jobs.priority)
    by_priority: dict[str, dict[str, int]] = {}
    started = dict.fromkeys(STATUSES, 0)
    with engine.connect() as conn:
        for status, priority, count, with_start in conn.execute(query):
            by_priority.setdefault(priority, {})[status] = int(count)
            started[status] = started.get(status, 0) + int(with_start)
    return JobCounts(by_priority=by_priority, started=started)


@dataclass(frozen=True)
class Finished:
    """Jobs that finished since a point in time: counts by outcome, completed ones' time."""

    since: datetime
    counts: dict[str, int]
    completed_seconds: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failure_rate(self) -> float | None:
        """``failed / (completed + failed)``; cancelled jobs are an operator's choice, not
        a failure. None when neither happened."""
        decided = self.counts["completed"] + self.counts["failed"]
        return self.counts["failed"] / decided if decided else None

    @property
    def average_seconds(self) -> float | None:
        completed = self.counts["completed"]
        return self.completed_seconds / completed if completed else None


def recent_average_seconds(engine: Engine) -> float | None:
    """The average duration of the jobs completed within :data:`RECENT`: what the stats
    show and the estimates use. None when none completed."""
    return finished_since(engine, utcnow() - RECENT).average_seconds


def finished_since(engine: Engine, since: datetime) -> Finished:
    """Jobs that reached an outcome at or after ``since``, and the completed ones' total time."""
    seconds = case((_jobs.status == "completed", job_seconds()), else_=None)
    query = (
        select(_jobs.status, func.count(), func.sum(seconds))
        .where(_jobs.status.in_(TERMINAL), _jobs.completed_at >= since)
        .group_by(_jobs.status)
    )
    counts = dict.fromkeys(TERMINAL, 0)
    total_seconds = 0.0
    with engine.connect() as conn:
        for status, count, summed in conn.execute(query):
            counts[status] = int(count)
            total_seconds += float(summed or 0)
    return Finished(since=since, counts=counts, completed_seconds=max(0.0, total_seconds))


def recent_durations(engine: Engine, since: datetime, *, limit: int) -> list[float]:
    """Durations of the (at most ``limit``) latest jobs completed at or after ``since``."""
    query = (
        select(job_seconds())
        .where(
            _jobs.status == "completed",
            _jobs.completed_at >= since,
            _jobs.started_at.is_not(None),
        )
        .order_by(_jobs.completed_at.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        return [max(0.0, float(value)) for (value,) in conn.execute(query) if value is not None]


@dataclass(frozen=True)
class DurationHistogram:
    """Completed jobs by duration: cumulative count per upper bound (seconds), as Prometheus
    histograms count, plus the total count and sum."""

    bounds: tuple[float, ...]
    cumulative: tuple[int, ...]
    count: int
    total_seconds: float

    def __add__(self, other: DurationHistogram) -> DurationHistogram:
        if other.bounds != self.bounds:
            raise ValueError("only histograms with the same bounds add up")
        return DurationHistogram(
            bounds=self.bounds,
            cumulative=tuple(a + b for a, b in zip(self.cumulative, other.cumulative, strict=True)),
            count=self.count + other.count,
            total_seconds=self.total_seconds + other.total_seconds,
        )


def duration_histogram(
    engine: Engine,
    bounds: Sequence[float],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DurationHistogram:
    """The durations of the jobs completed in ``[since, until)`` (all by default) sorted into
    ``bounds``, in one aggregate query (a range of the completed-jobs index)."""
    seconds = job_seconds()
    per_bound = [func.sum(case((seconds <= bound, 1), else_=0)) for bound in bounds]
    conditions = [_jobs.status == "completed", _jobs.started_at.is_not(None)]
    if since is not None:
        conditions.append(_jobs.completed_at >= since)
    if until is not None:
        conditions.append(_jobs.completed_at < until)
    query = select(func.count(), func.sum(seconds), *per_bound).where(and_(*conditions))
    with engine.connect() as conn:
        count, total, *cumulative = conn.execute(query).one()
    return DurationHistogram(
        bounds=tuple(bounds),
        cumulative=tuple(int(n or 0) for n in cumulative),
        count=int(count or 0),
        total_seconds=max(0.0, float(total or 0)),
    )


def delivery_counts(engine: Engine) -> dict[str, int]:
    """Webhook deliveries by state (every state present, 0 when none)."""
    table = pdf_webhook_deliveries.c
    counts = dict.fromkeys(DELIVERY_STATES, 0)
    with engine.connect() as conn:
        for state, count in conn.execute(select(table.state, func.count()).group_by(table.state)):
            counts[state] = int(count)
    return counts
