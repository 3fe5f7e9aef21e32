"""The service's own alerts: judged from the figures, remembered in Redis, announced by webhook.

Five alerts, each with its threshold (``PDFQUEUE_ALERT_*``):

- ``queue_length``: jobs waiting in the render queues, above ``PDFQUEUE_ALERT_QUEUE_LENGTH``;
- ``failure_rate``: failed / (completed + failed) of the jobs that finished in the
  last hour, above ``PDFQUEUE_ALERT_FAILURE_RATE`` (off while none finished);
- ``avg_seconds``: average duration of the jobs completed in the last hour, above
  ``PDFQUEUE_ALERT_AVG_SECONDS`` (off while none completed);
- ``no_workers``: a role (render, delivery) without a live worker;
- ``outage``: MongoDB, SQL or the storage has not answered the workers for
  ``PDFQUEUE_ALERT_OUTAGE_SECONDS`` (:mod:`.outages`). It is judged from Redis alone,
  so it fires while SQL is the one down (the other alerts then wait for SQL).

Alerts are judged on every read of ``GET /api/queue/stats``, and besides by the
workers' maintenance and by scrapes of ``/metrics``: between those, once per
:data:`EVALUATE_EVERY` seconds across all processes (a Redis lock). So they fire
with nobody reading the stats, as long as a worker or Prometheus runs.

When an alert fires, the first process to see it records *since when* in Redis
(``SET NX``), so every process reports the same moment; when it clears, the one
process whose ``GETDEL`` removes that record announces it. Each turn on and each
clear is so announced once: with ``PDFQUEUE_ALERT_WEBHOOK`` set, as a POST signed
like the job webhooks (Standard Webhooks, ``PDFQUEUE_WEBHOOK_SECRET``, the callback
allow-list), with a ``webhook-id`` that stays the same across its retries. The POST
is made on a thread of the process that saw the change, retried on the first
steps of ``PDFQUEUE_WEBHOOK_RETRY_SCHEDULE``: best effort, since the alert itself
stays visible in the stats and in Prometheus.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from . import outages
from .delivery.sender import WebhookSender
from .extension import PDFQueueState
from .stats import ROLES, AlertInputs, alert_inputs
from .timestamps import iso_utc, redis_now, utcnow

log = logging.getLogger(__name__)

#: Redis key of each firing alert: the time it started firing (seconds since the epoch).
KEY_PREFIX = "pdfqueue:alert:"
LOCK_KEY = "pdfqueue:alerts-lock"
#: Workers and scrapes judge the alerts at most this often (across all processes).
EVALUATE_EVERY = 30
#: Attempts at one alert webhook: the first, then one after each of this many steps of
#: ``PDFQUEUE_WEBHOOK_RETRY_SCHEDULE``.
WEBHOOK_RETRIES = 3


@dataclass(frozen=True)
class Alert:
    """One alert as judged now; ``since`` is when it started firing (None when it is not)."""

    name: str
    firing: bool
    threshold: float
    value: float | None
    fires_when: Literal["above", "below"]
    message: str
    since: datetime | None = None


def judge(
    inputs: AlertInputs, *, queue_length: int, failure_rate: float, avg_seconds: float
) -> list[Alert]:
    """The four alerts for these figures and thresholds (no Redis, no side effects)."""
    waiting = inputs.waiting
    rate = inputs.finished.failure_rate
    average = inputs.finished.average_seconds
    idle_roles = [role for role in ROLES if inputs.live_workers.get(role, 0) < 1]
    fewest = min(inputs.live_workers.get(role, 0) for role in ROLES)
    return [
        Alert(
            "queue_length",
            waiting > queue_length,
            queue_length,
            waiting,
            "above",
            f"{waiting} jobs waiting in the render queues (alert above {queue_length})",
        ),
        Alert(
            "failure_rate",
            rate is not None and rate > failure_rate,
            failure_rate,
            rate,
            "above",
            "no job completed or failed in the last hour"
            if rate is None
            else f"{rate:.1%} of the jobs that ended in the last hour failed "
            f"(alert above {failure_rate:.1%})",
        ),
        Alert(
            "avg_seconds",
            average is not None and average > avg_seconds,
            avg_seconds,
            average,
            "above",
            "no job completed in the last hour"
            if average is None
            else f"jobs completed in the last hour took {average:.1f} s on average "
            f"(alert above {avg_seconds:g} s)",
        ),
        Alert(
            "no_workers",
            bool(idle_roles),
            1,
            fewest,
            "below",
            f"no live {' or '.join(idle_roles)} worker"
            if idle_roles
            else ", ".join(f"{inputs.live_workers[r]} live {r} workers" for r in ROLES),
        ),
    ]


def judge_outages(down_seconds: Mapping[str, float], *, threshold: int) -> Alert:
    """The ``outage`` alert for how long each dependency has been down (no side effects)."""
    long_down = {d: s for d, s in down_seconds.items() if s >= threshold}
    longest = max(down_seconds.values(), default=0.0)
    message = (
        "; ".join(
            f"{outages.NAMES[d]} has not answered for {s:.0f} s" for d, s in long_down.items()
        )
        + f" (alert after {threshold} s)"
        if long_down
        else "MongoDB, SQL and the storage answer"
    )
    return Alert("outage", bool(long_down), threshold, longest, "above", message)


def evaluate(
    state: PDFQueueState, inputs: AlertInputs | None, now: datetime | None = None
) -> list[Alert]:
    """Judge the alerts, record since when each fires, and announce what turned on or off.

    Without ``inputs`` (SQL did not answer) only the ``outage`` alert is judged; the
    others keep what they recorded."""
    now = now or utcnow()
    settings = state.settings
    judged = (
        judge(
            inputs,
            queue_length=settings.alert_queue_length,
            failure_rate=settings.alert_failure_rate,
            avg_seconds=settings.alert_avg_seconds,
        )
        if inputs is not None
        else []
    )
    clock = redis_now(state.redis)
    down = {o.dependency: o.age(clock).total_seconds() for o in outages.open_outages(state.redis)}
    judged.append(judge_outages(down, threshold=settings.alert_outage_seconds))
    alerts: list[Alert] = []
    changes: list[tuple[Alert, datetime | None]] = []  # (alert, resolved at)
    for alert in judged:
        key = KEY_PREFIX + alert.name
        if alert.firing:
            if state.redis.set(key, repr(now.timestamp()), nx=True):
                alert = _since(alert, now)
                changes.append((alert, None))
            else:
                alert = _since(alert, _stamp(state.redis.get(key)) or now)
        else:
            began = _stamp(state.redis.getdel(key))
            if began is not None:
                changes.append((_since(alert, began), now))
        alerts.append(alert)
    for alert, resolved_at in changes:
        log.warning(
            "alert %s %s: %s", alert.name, "resolved" if resolved_at else "firing", alert.message
        )
    if changes and settings.alert_webhook:
        announce(state, changes)
    return alerts


def evaluate_if_due(state: PDFQueueState, owner: str) -> list[Alert] | None:
    """Judge the alerts unless some process did within :data:`EVALUATE_EVERY` seconds."""
    if not state.redis.set(LOCK_KEY, owner, nx=True, ex=EVALUATE_EVERY):
        return None
    try:
        inputs: AlertInputs | None = alert_inputs(state)
    except SQLAlchemyError:  # the outage alert still speaks
        inputs = None
    return evaluate(state, inputs)


def event_body(alert: Alert, resolved_at: datetime | None, service: str) -> bytes:
    """The JSON an alert webhook carries."""
    body = {
        "type": "pdfqueue.alert",
        "alert": alert.name,
        "status": "resolved" if resolved_at else "firing",
        "message": alert.message,
        "threshold": alert.threshold,
        "value": alert.value,
        "fires_when": alert.fires_when,
        "since": iso_utc(alert.since),
        "resolved_at": iso_utc(resolved_at),
        "service": service,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def webhook_id(alert: Alert, resolved_at: datetime | None) -> str:
    """Stable across retries of one event; distinct for each turn on and each clear."""
    began = int((alert.since or datetime.fromtimestamp(0, UTC)).timestamp() * 1000)
    return f"alert_{alert.name}_{began}_{'resolved' if resolved_at else 'firing'}"


def announce(
    state: PDFQueueState, changes: Sequence[tuple[Alert, datetime | None]]
) -> threading.Thread:
    """POST each change to ``PDFQUEUE_ALERT_WEBHOOK``, in order, on a thread of its own."""
    settings = state.settings
    events = [
        (webhook_id(alert, resolved_at), event_body(alert, resolved_at, settings.base_url))
        for alert, resolved_at in changes
    ]
    pauses = list(settings.webhook_retry_schedule[:WEBHOOK_RETRIES])
    thread = threading.Thread(
        target=_post_all,
        args=(state.webhooks, settings.alert_webhook, events, pauses),
        name="pdfqueue-alerts",
        daemon=True,
    )
    thread.start()
    return thread


def _post_all(
    sender: WebhookSender, url: str, events: list[tuple[str, bytes]], pauses: list[int]
) -> None:
    for event_id, body in events:
        for pause in [*pauses, None]:
            result = sender.deliver(url, event_id, body)
            if result.delivered:
                log.info("alert webhook %s delivered (HTTP %s)", event_id, result.status)
                break
            if not result.retryable or pause is None:
                log.error("alert webhook %s given up: %s", event_id, result.error)
                break
            log.warning("alert webhook %s not delivered, will retry: %s", event_id, result.error)
            time.sleep(pause)


def _since(alert: Alert, since: datetime) -> Alert:
    return dataclasses.replace(alert, since=since)


def _stamp(raw: bytes | str | None) -> datetime | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return datetime.fromtimestamp(float(text), UTC)
