"""Prometheus metrics, read from SQL and Redis at scrape time (never counted in a process).

Every web process answers ``/metrics`` with the same figures, whichever gunicorn
worker or work horse did the work: the collector reads the shared records on each
scrape with a few aggregate queries over indexes (:mod:`.records.sql.figures`) and
two pipelined Redis round trips.

- ``pdfqueue_jobs_total{status}`` (counter): jobs that ever reached the status.
  ``queued``: every job accepted; ``processing``: every job that started (once per
  job, retries included); ``completed``, ``failed``, ``cancelled``: jobs with that
  outcome. Counts only grow, until ``flask pdfqueue cleanup`` forgets old jobs
  (Prometheus reads the drop as a counter reset).
- ``pdfqueue_jobs_current{status}`` (gauge): jobs in each status now.
- ``pdfqueue_queue_depth{queue}`` (gauge): jobs waiting in each RQ list
  (``pdf-high``, ``pdf-normal``, ``pdf-low``, ``pdf-webhooks``).
- ``pdfqueue_job_duration_seconds`` (histogram): every completed job's time from its
  first start to its outcome, in :data:`DURATION_BUCKETS`. Computing a duration per
  row is the one per-row cost, so jobs completed more than :data:`SETTLED` ago are
  counted once and their buckets kept in Redis (:func:`job_durations`); a scrape
  adds only what completed since. (So, unlike the job counts, the histogram keeps the
  jobs ``cleanup`` forgot, until Redis loses its key.)
- ``pdfqueue_webhook_deliveries_total{result}`` (counter): webhook events by the state
  of their delivery: ``delivered`` and ``failed`` (given up) only grow, but for a
  replay (which moves an event back to ``pending``); ``pending`` and ``sending`` are
  the backlog now.
- ``pdfqueue_workers{state, role}`` (gauge): live workers (heartbeat within 70 s),
  ``busy`` or ``idle``, of each role (``render``, ``delivery``); every combination is
  always present, 0 included, so "no workers" is a value, not a missing series.
- ``pdfqueue_dependency_down_seconds{dependency}`` (gauge): how long ``mongo``, ``sql``
  or ``storage`` has been in an outage the workers recorded (:mod:`.outages`); 0 while
  it answers.
- ``pdfqueue_backend_up{backend}`` (gauge): 1 when SQL / Redis answered this scrape.
  A backend that does not answer leaves its metrics out of the scrape (and never
  fails the others).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..jobs import outages
from ..queue.rq_state import ROLES, queue_depths, read_workers
from ..records.sql import STATUSES
from ..records.sql.delivery_rows import DELIVERY_STATES
from ..records.sql.figures import (
    DurationHistogram,
    delivery_counts,
    duration_histogram,
    job_counts,
)
from ..state import PDFQueueState
from ..timestamps import redis_now, utcnow

log = logging.getLogger(__name__)

#: Upper bounds (seconds) of the duration histogram; 300 is the default alert threshold.
DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
WORKER_STATES = ("busy", "idle")
#: Jobs completed longer ago than this have their durations kept in Redis, counted; later
#: ones are counted on each scrape (late commits and clocks a little apart stay counted).
SETTLED = timedelta(minutes=10)
HISTOGRAM_KEY = "pdfqueue:metrics:durations"


def job_durations(engine: Engine, redis: Redis, now: datetime) -> DurationHistogram:
    """The duration histogram of every completed job: the settled part from Redis (brought
    up to :data:`SETTLED` ago first), the rest from SQL.

    The stored part moves forward with a compare-and-set, so processes scraping at once
    never count a job twice; a lost key (Redis flushed) is computed again from SQL.
    """
    until = now - SETTLED
    raw = redis.get(HISTOGRAM_KEY)
    settled, upto = _load(raw)
    if settled is None or upto is None or until > upto:
        folded = duration_histogram(engine, DURATION_BUCKETS, since=upto, until=until)
        settled = folded if settled is None else settled + folded
        upto = until
        redis.eval(_REPLACE_IF_UNCHANGED, 1, HISTOGRAM_KEY, raw or "", _dump(settled, upto))
    return settled + duration_histogram(engine, DURATION_BUCKETS, since=upto)


def _load(raw: bytes | str | None) -> tuple[DurationHistogram | None, datetime | None]:
    if raw is None:
        return None, None
    data = json.loads(raw)
    if tuple(data["bounds"]) != DURATION_BUCKETS:  # the buckets changed: count again
        return None, None
    histogram = DurationHistogram(
        bounds=DURATION_BUCKETS,
        cumulative=tuple(data["cumulative"]),
        count=data["count"],
        total_seconds=data["sum"],
    )
    return histogram, datetime.fromisoformat(data["upto"])


def _dump(histogram: DurationHistogram, upto: datetime) -> str:
    return json.dumps(
        {
            "bounds": histogram.bounds,
            "cumulative": histogram.cumulative,
            "count": histogram.count,
            "sum": histogram.total_seconds,
            "upto": upto.isoformat(),
        }
    )


#: SET KEYS[1] to ARGV[2] only if it still holds ARGV[1] ('' for "no value").
_REPLACE_IF_UNCHANGED = """
local current = redis.call('get', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class QueueCollector:
    """A ``prometheus_client`` collector over one app's records.

    Redis is asked first: when it does not answer, the SQL figures are still given
    (the duration histogram then all from SQL), and :attr:`redis_up` says so.
    """

    def __init__(self, state: PDFQueueState) -> None:
        self.state = state
        self.redis_up = False

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        try:
            redis = self._redis_metrics()
            self.redis_up = True
        except RedisError as exc:
            log.warning("metrics: Redis not answering: %s", type(exc).__name__)
            redis, self.redis_up = [], False
        try:
            sql = self._sql_metrics(now)
        except SQLAlchemyError as exc:
            log.warning("metrics: SQL not answering: %s", type(exc).__name__)
            sql = []
        up = GaugeMetricFamily(
            "pdfqueue_backend_up",
            "Whether the backend answered this scrape (1) or not (0).",
            labels=["backend"],
        )
        up.add_metric(["sql"], 1 if sql else 0)
        up.add_metric(["redis"], 1 if self.redis_up else 0)
        yield from (*sql, *redis, up)

    def _sql_metrics(self, now: datetime) -> list[Metric]:
        engine = self.state.jobs.engine
        counts = job_counts(engine)
        reached = {
            "queued": counts.total,
            "processing": counts.ever_started,
            **{status: counts.status(status) for status in ("completed", "failed", "cancelled")},
        }
        total = CounterMetricFamily(
            "pdfqueue_jobs",
            "Jobs that ever reached each status (queued: accepted; processing: started).",
            labels=["status"],
        )
        current = GaugeMetricFamily(
            "pdfqueue_jobs_current", "Jobs in each status now.", labels=["status"]
        )
        for status in STATUSES:
            total.add_metric([status], reached[status])
            current.add_metric([status], counts.status(status))

        histogram = None
        if self.redis_up:
            try:
                histogram = job_durations(engine, self.state.redis, now)
            except RedisError as exc:
                log.warning("metrics: Redis not answering: %s", type(exc).__name__)
        if histogram is None:
            histogram = duration_histogram(engine, DURATION_BUCKETS)
        buckets = [
            (repr(float(bound)), float(n))
            for bound, n in zip(histogram.bounds, histogram.cumulative, strict=True)
        ]
        buckets.append(("+Inf", float(histogram.count)))
        durations = HistogramMetricFamily(
            "pdfqueue_job_duration_seconds",
            "Seconds from a completed job's first start to its outcome.",
            buckets=buckets,
            sum_value=histogram.total_seconds,
        )

        deliveries = CounterMetricFamily(
            "pdfqueue_webhook_deliveries",
            "Webhook events by the state of their delivery.",
            labels=["result"],
        )
        for result, n in delivery_counts(engine).items():
            if result in DELIVERY_STATES:
                deliveries.add_metric([result], n)
        return [total, current, durations, deliveries]

    def _redis_metrics(self) -> list[Metric]:
        depth = GaugeMetricFamily(
            "pdfqueue_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        for queue, n in queue_depths(self.state.redis).items():
            depth.add_metric([queue], n)
        live = [w for w in read_workers(self.state.redis) if w.live]
        workers = GaugeMetricFamily(
            "pdfqueue_workers",
            "Live workers (heartbeat within 70 s) by state and role.",
            labels=["state", "role"],
        )
        for role in ROLES:
            for state in WORKER_STATES:
                n = sum(1 for w in live if w.role == role and w.busy == (state == "busy"))
                workers.add_metric([state, role], n)
        down = GaugeMetricFamily(
            "pdfqueue_dependency_down_seconds",
            "Seconds since the dependency stopped answering the workers (0: it answers).",
            labels=["dependency"],
        )
        clock = redis_now(self.state.redis)
        ages = {o.dependency: o.age(clock) for o in outages.open_outages(self.state.redis)}
        for dependency in outages.DEPENDENCIES:
            age = ages.get(dependency)
            down.add_metric([dependency], age.total_seconds() if age is not None else 0.0)
        return [depth, workers, down]
