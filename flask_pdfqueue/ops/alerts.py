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
clear is so announced once: with ``PDFQUEUE_ALERT_WEBHOOK`` set, as an event in the
webhook outbox (:func:`announce`), delivered by the delivery workers like a job's
event (Standard Webhooks, ``PDFQUEUE_WEBHOOK_SECRET``, the callback allow-list, the
retry schedule), under a ``webhook-id`` made from the alert and its start, so two
processes that see the same change owe it once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy.exc import SQLAlchemyError

from ..jobs import outages
from ..jobs.delivery.dispatch import dispatch
from ..queue.rq_state import ROLES
from ..state import PDFQueueState
from ..timestamps import iso_utc, redis_now, utcnow
from .stats import AlertInputs, alert_inputs

log = logging.getLogger(__name__)

#: Redis key of each firing alert: the time it started firing (seconds since the epoch).
KEY_PREFIX = "pdfqueue:alert:"
LOCK_KEY = "pdfqueue:alerts-lock"
#: Workers and scrapes judge the alerts at most this often (across all processes).
EVALUATE_EVERY = 30


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
        try:
            announce(state, changes)
        except SQLAlchemyError:  # the outbox is SQL: seen again, and owed, once it answers
            log.warning("alert changes not announced now: SQL does not answer")
            _forget(state, changes)
    return alerts


def _forget(state: PDFQueueState, changes: Sequence[tuple[Alert, datetime | None]]) -> None:
    """Undo what recorded these changes in Redis, so the next evaluation makes them again."""
    for alert, resolved_at in changes:
        key = KEY_PREFIX + alert.name
        if resolved_at is None:
            state.redis.delete(key)
        elif alert.since is not None:
            state.redis.set(key, repr(alert.since.timestamp()), nx=True)


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


def announce(state: PDFQueueState, changes: Sequence[tuple[Alert, datetime | None]]) -> None:
    """Owe each change to ``PDFQUEUE_ALERT_WEBHOOK`` in the webhook outbox, in order, and
    queue its delivery: signed, retried on the schedule, recorded and replayable like a
    job's event. An event another process owed first is not owed again."""
    settings = state.settings
    owed = []
    for alert, resolved_at in changes:
        body = event_body(alert, resolved_at, settings.base_url).decode()
        event_id = webhook_id(alert, resolved_at)
        delivery = state.deliveries.owe_event(event_id, "alert", settings.alert_webhook, body)
        if delivery is not None:
            owed.append(delivery)
    dispatch(state, owed)


def _since(alert: Alert, since: datetime) -> Alert:
    return dataclasses.replace(alert, since=since)


def _stamp(raw: bytes | str | None) -> datetime | None:
    if raw is None:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return datetime.fromtimestamp(float(text), UTC)
