"""``GET /health``: is every backing service reachable, is anybody working the queue?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify
from rq import Worker
from rq.scheduler import RQScheduler

from ..extension import PDFQueueState, current_pdfqueue


def _check(probe: Callable[[], Any]) -> dict[str, Any]:
    try:
        detail = probe()
    except Exception as exc:  # any failure of a probe is what health reports, not raises
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result: dict[str, Any] = {"ok": bool(detail) if detail is not None else True}
    if isinstance(detail, int) and not isinstance(detail, bool):
        result["count"] = detail
    return result


def _scheduler_running(state: PDFQueueState) -> bool:
    keys = [RQScheduler.get_locking_key(q.name) for q in state.queue.ordered]
    return bool(state.redis.exists(*keys) == len(keys))


def health() -> tuple[Response, int]:
    state = current_pdfqueue()
    checks = {
        "redis": _check(state.redis.ping),
        "mongo": _check(state.documents.ping),
        "sql": _check(state.jobs.ping),
        "workers": _check(lambda: Worker.count(connection=state.redis)),
        "scheduler": _check(lambda: _scheduler_running(state)),
    }
    healthy = all(check["ok"] for check in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", "checks": checks}), (
        200 if healthy else 503
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/health", view_func=health, methods=["GET"])
