"""``GET /queue/stats``: queue, worker and webhook figures, and the alerts (judged on read)."""

from __future__ import annotations

from collections.abc import Sequence

from flask import Response

from ..config.settings import PRIORITIES
from ..ops.alerts import Alert, evaluate
from ..ops.stats import Stats, collect
from ..queue.rq_state import DELIVERY_QUEUE, WorkerInfo, queue_name
from ..records.sql.figures import JobCounts
from ..state import current_pdfqueue
from ..timestamps import iso_utc
from .responses import respond
from .stats_models import (
    AlertView,
    DurationFigures,
    QueueFigures,
    QueueStats,
    RoleFigures,
    Throughput,
    WebhookFigures,
    WorkerFigures,
    WorkerView,
)


def queue_stats() -> Response:
    state = current_pdfqueue()
    stats = collect(state)
    alerts = evaluate(state, stats.alert_inputs, stats.generated_at)
    return respond(stats_answer(stats, alerts))


def stats_answer(stats: Stats, alerts: Sequence[Alert]) -> QueueStats:
    window = int(stats.window.total_seconds())
    finished = stats.finished
    counts = finished.counts
    rate = finished.failure_rate
    deliveries = stats.deliveries
    return QueueStats(
        generated_at=iso_utc(stats.generated_at) or "",
        window_seconds=window,
        queues=[_queue(stats, stats.jobs, priority) for priority in PRIORITIES],
        total=_queue(stats, stats.jobs, None),
        throughput=Throughput(
            window_seconds=window,
            per_hour=finished.total,
            completed=counts["completed"],
            failed=counts["failed"],
            cancelled=counts["cancelled"],
        ),
        durations=DurationFigures(
            window_seconds=window,
            samples=stats.durations.samples,
            average=stats.durations.average,
            p50=stats.durations.p50,
            p95=stats.durations.p95,
            p99=stats.durations.p99,
        ),
        success_rate=None if rate is None else 1 - rate,
        failure_rate=rate,
        workers=WorkerFigures(
            render=_role(stats.workers, "render"),
            delivery=_role(stats.workers, "delivery"),
            workers=[_worker(w) for w in stats.workers],
        ),
        webhooks=WebhookFigures(
            queue=DELIVERY_QUEUE,
            waiting=stats.depths[DELIVERY_QUEUE],
            pending=deliveries["pending"],
            sending=deliveries["sending"],
            delivered=deliveries["delivered"],
            failed=deliveries["failed"],
        ),
        alerts=[
            AlertView(
                name=alert.name,  # type: ignore[arg-type]
                firing=alert.firing,
                threshold=alert.threshold,
                value=alert.value,
                fires_when=alert.fires_when,
                since=iso_utc(alert.since),
                message=alert.message,
            )
            for alert in alerts
        ],
    )


def _queue(stats: Stats, counts: JobCounts, priority: str | None) -> QueueFigures:
    if priority is None:
        name = "total"
        waiting = sum(stats.depths[queue_name(p)] for p in PRIORITIES)
    else:
        name = queue_name(priority)
        waiting = stats.depths[name]
    return QueueFigures(
        queue=name,
        waiting=waiting,
        queued=counts.status("queued", priority),
        processing=counts.status("processing", priority),
        completed=counts.status("completed", priority),
        failed=counts.status("failed", priority),
        cancelled=counts.status("cancelled", priority),
    )


def _role(workers: Sequence[WorkerInfo], role: str) -> RoleFigures:
    mine = [w for w in workers if w.role == role]
    live = [w for w in mine if w.live]
    busy = sum(w.busy for w in live)
    return RoleFigures(
        live=len(live), busy=busy, idle=len(live) - busy, stale=len(mine) - len(live)
    )


def _worker(worker: WorkerInfo) -> WorkerView:
    age = worker.heartbeat_age
    return WorkerView(
        name=worker.name,
        role=worker.role,  # type: ignore[arg-type]
        state=worker.state,
        queues=list(worker.queues),
        heartbeat_age_seconds=None if age is None else round(age, 3),
        live=worker.live,
    )
