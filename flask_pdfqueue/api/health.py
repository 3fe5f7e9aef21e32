"""``GET /health``: is every backing service reachable, is anybody working the queue?

A dependency in an outage the workers recorded (:mod:`..outages`) is named with how
long it has been down, even when this process's own probe got through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Response, jsonify

from ..jobs import outages
from ..queue.rq_state import live_workers, scheduler_alive
from ..state import PDFQueueState, current_pdfqueue
from ..timestamps import redis_now
from .envelope import RETRY_AFTER_SECONDS

log = logging.getLogger(__name__)


def _check(name: str, probe: Callable[[], Any]) -> dict[str, Any]:
    """``{"ok": …}`` (plus a count for workers); why a probe failed goes to the log only,
    since this answer may be public and error texts name internal hosts."""
    try:
        detail = probe()
    except Exception as exc:  # any failure of a probe is what health reports, not raises
        log.warning("health: %s check failed: %s: %s", name, type(exc).__name__, exc)
        return {"ok": False}
    result: dict[str, Any] = {"ok": bool(detail) if detail is not None else True}
    if isinstance(detail, int) and not isinstance(detail, bool):
        result["count"] = detail
    return result


def _scheduler_running(state: PDFQueueState) -> bool:
    """Every queue's scheduler lock is held by a scheduler that heartbeats (a killed one's
    lock lingers for a minute, so the lock alone proves nothing)."""
    return all(scheduler_alive(state.redis, q.name) for q in state.queue.all)


def _add_outages(state: PDFQueueState, checks: dict[str, dict[str, Any]]) -> None:
    """A dependency the workers found down is not ok, however this probe went, and says
    for how long (``down_seconds``, by Redis's clock: every web host tells the same)."""
    try:
        now = redis_now(state.redis)
        found = outages.open_outages(state.redis)
    except Exception as exc:  # Redis down: its own check says so
        log.warning("health: outages not read: %s", type(exc).__name__)
        return
    for outage in found:
        check = checks.setdefault(outage.dependency, {})
        check["ok"] = False
        check["down_seconds"] = int(outage.age(now).total_seconds())


def health() -> tuple[Response, int]:
    state = current_pdfqueue()
    checks = {
        "redis": _check("redis", state.redis.ping),
        "mongo": _check("mongo", state.documents.ping),
        "sql": _check("sql", state.jobs.ping),
        "workers": _check("workers", lambda: live_workers(state.redis, "render")),
        "delivery_workers": _check(
            "delivery_workers", lambda: live_workers(state.redis, "delivery")
        ),
        "scheduler": _check("scheduler", lambda: _scheduler_running(state)),
    }
    _add_outages(state, checks)
    healthy = all(check["ok"] for check in checks.values())
    response = jsonify({"status": "ok" if healthy else "unavailable", "checks": checks})
    if healthy:
        return response, 200
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response, 503
