"""The answer of ``GET /queue/stats`` as pydantic models (the style of :mod:`.responses`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .responses import Answer

Seconds = float | None


class QueueFigures(Answer):
    """Jobs of one priority queue (or of all of them) by status now."""

    queue: str = Field(description="The RQ queue (`pdf-high`, `pdf-normal`, `pdf-low`) or `total`.")
    waiting: int = Field(description="Jobs in the RQ list now, next for a free worker.")
    queued: int = Field(description="Jobs queued in SQL (waiting, or a retry waiting its delay).")
    processing: int
    completed: int
    failed: int
    cancelled: int


class Throughput(Answer):
    """Jobs that reached an outcome within the window."""

    window_seconds: int
    per_hour: int = Field(description="Jobs finished (completed, failed or cancelled).")
    completed: int
    failed: int
    cancelled: int


class DurationFigures(Answer):
    """Seconds from first start to outcome of the jobs completed within the window."""

    window_seconds: int
    samples: int = Field(description="Completed jobs the percentiles are taken over.")
    average: Seconds = Field(description="Over every job completed within the window.")
    p50: Seconds = Field(description="Nearest-rank percentiles of the latest 10,000 at most.")
    p95: Seconds
    p99: Seconds


class WorkerView(Answer):
    name: str
    role: Literal["render", "delivery"]
    state: str = Field(description="RQ's: `busy`, `idle`, `started`, `suspended`.")
    queues: list[str]
    heartbeat_age_seconds: Seconds
    live: bool = Field(description="Heartbeat within 70 s; a dead worker's record lingers.")


class RoleFigures(Answer):
    live: int
    busy: int
    idle: int = Field(description="Live workers not running a job.")
    stale: int = Field(description="Registered, but silent: dead.")


class WorkerFigures(Answer):
    render: RoleFigures
    delivery: RoleFigures
    workers: list[WorkerView]


class WebhookFigures(Answer):
    queue: str
    waiting: int = Field(description="Delivery attempts in the RQ list now.")
    pending: int = Field(description="Events owed, waiting for their next attempt.")
    sending: int = Field(description="Events with an attempt under way.")
    delivered: int
    failed: int = Field(description="Events given up on (replayable).")


class AlertView(Answer):
    name: Literal["queue_length", "failure_rate", "avg_seconds", "no_workers", "outage"]
    firing: bool
    threshold: float
    value: float | None = Field(description="The figure compared with the threshold now.")
    fires_when: Literal["above", "below"]
    since: str | None = Field(description="When it started firing (ISO 8601 UTC), else null.")
    message: str


class QueueStats(Answer):
    """Queue, worker and webhook figures, and the alerts, as read at ``generated_at``."""

    generated_at: str
    window_seconds: int = Field(description="The recent past throughput and durations cover.")
    queues: list[QueueFigures]
    total: QueueFigures
    throughput: Throughput
    durations: DurationFigures
    success_rate: float | None = Field(
        description="completed / (completed + failed) within the window; null when none."
    )
    failure_rate: float | None
    workers: WorkerFigures
    webhooks: WebhookFigures
    alerts: list[AlertView]
