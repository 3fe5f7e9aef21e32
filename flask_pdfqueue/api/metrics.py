"""``GET /metrics`` at the app's root (where Prometheus looks), outside the API's prefix.

A blueprint of its own, so it neither sits under ``/api`` nor counts against the API's
rate limit. It needs an API key (Prometheus sends one with ``authorization:
credentials``, as ``Authorization: Bearer``) unless ``PDFQUEUE_METRICS_PUBLIC`` is on.
Each scrape also gives the alerts their turn (:func:`~flask_pdfqueue.ops.alerts.evaluate_if_due`),
so they are judged while Prometheus scrapes even with every worker down.
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from ..ops.alerts import evaluate_if_due
from ..ops.metrics import QueueCollector
from ..state import current_pdfqueue
from .auth import require_api_key
from .envelope import APIError, error_response

log = logging.getLogger(__name__)


def create_metrics_blueprint() -> Blueprint:
    bp = Blueprint("pdfqueue_metrics", __name__)

    @bp.before_request
    def _authenticate() -> None:
        settings = current_pdfqueue().settings
        if not settings.metrics_public:
            require_api_key(settings.api_keys)

    bp.add_url_rule("/metrics", view_func=metrics, methods=["GET"])
    bp.register_error_handler(APIError, error_response)
    return bp


def metrics() -> Response:
    state = current_pdfqueue()
    collector = QueueCollector(state)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    # 0.0.4, not prometheus_client's "latest" (1.0.0): what every Prometheus reads, and
    # the same bytes for names like ours.
    response = Response(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
    if collector.redis_up:  # a Redis that did not answer the scrape is not asked again
        try:
            evaluate_if_due(state, f"metrics:{os.getpid()}")
        except Exception:  # the scrape answers anyway
            log.exception("alert evaluation during a scrape failed")
    return response
