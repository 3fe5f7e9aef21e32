"""``POST /reports/generate-async``: accept a job and answer 202 at once."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..extension import current_pdfqueue
from ..submission import SubmitRejected, submit
from ..timestamps import iso_utc
from .envelope import APIError, unavailable
from .models import parse_submit


def json_body() -> Any:
    """The decoded JSON body: 415 when it is not JSON, 400 when it does not parse."""
    if not request.mimetype or not (
        request.mimetype == "application/json" or request.mimetype.endswith("+json")
    ):
        raise APIError(
            415, "unsupported_media_type", "Send the body as JSON (Content-Type: application/json)."
        )
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise APIError(400, "invalid_json", f"The body is not valid JSON: {exc}") from None
    except RecursionError:
        raise APIError(400, "invalid_json", "The body is nested too deeply.") from None


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; refusing them keeps them out of webhooks."""
    raise ValueError(f"{name} is not a JSON value")


def generate_async() -> tuple[Response, int, dict[str, str]]:
    payload = parse_submit(json_body())
    state = current_pdfqueue()
    try:
        accepted = submit(
            state,
            code=payload.code,
            product_id=payload.product_id,
            priority=payload.priority,
            callback=payload.callback,
            failure_callback=payload.failure_callback,
            metadata=payload.metadata,
        )
    except SubmitRejected as exc:
        if exc.field:
            raise APIError(
                400,
                exc.reason,
                "Some fields are missing or invalid.",
                fields={exc.field: exc.message},
            ) from None
        raise unavailable(exc.reason, exc.message) from None
    record = accepted.record
    status_url = state.job_url(record.job_id)
    body = {
        "job_id": record.job_id,
        "status": record.status,
        "position_in_queue": accepted.position,
        "estimated_completion": iso_utc(accepted.estimated_completion),
        "created_at": iso_utc(record.created_at),
        "status_url": status_url,
    }
    return jsonify(body), 202, {"Location": status_url}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/reports/generate-async", view_func=generate_async, methods=["POST"])
