"""``POST /webhooks/claims``: a receiver claims a ``webhook-id`` before it acts on the event."""

from __future__ import annotations

from flask import Response

from ..state import current_pdfqueue
from .models import ClaimRequest, parse_model
from .responses import ClaimAnswer, respond
from .submit import json_body


def claim_webhook_id() -> Response:
    """200 ``claimed: true`` for the first claim of the id by the consumer, ``false`` after."""
    request = parse_model(ClaimRequest, json_body())
    claimed = current_pdfqueue().webhook_claims.claim(request.webhook_id, request.consumer)
    return respond(ClaimAnswer(webhook_id=request.webhook_id, claimed=claimed))
