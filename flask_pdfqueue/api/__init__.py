"""The HTTP API blueprint: submit, jobs, webhooks, health. Every route but health needs a key."""

from __future__ import annotations

from flask import Blueprint, request

from ..extension import current_pdfqueue
from .auth import require_api_key
from .envelope import register_error_handlers

#: Endpoints that answer without an API key when ``PDFQUEUE_HEALTH_PUBLIC`` is on.
PUBLIC_ENDPOINTS = frozenset({"pdfqueue.health"})


def create_blueprint() -> Blueprint:
    from . import health, jobs, submit, webhooks

    bp = Blueprint("pdfqueue", __name__)

    @bp.before_request
    def _authenticate_and_bound() -> None:
        state = current_pdfqueue()
        request.max_content_length = state.settings.max_body_bytes
        if request.endpoint in PUBLIC_ENDPOINTS and state.settings.health_public:
            return
        require_api_key(state.settings.api_keys)

    submit.register(bp)
    jobs.register(bp)
    webhooks.register(bp)
    health.register(bp)
    register_error_handlers(bp)
    return bp
