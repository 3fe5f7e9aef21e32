"""``POST /reports/generate-async`` and ``/reports/generate-batch``: accept jobs at once."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request

from ..jobs.submission import Accepted, JobRequest, SubmitRejected, submit, submit_many
from ..state import PDFQueueState, current_pdfqueue
from ..timestamps import iso_utc
from .envelope import APIError, error_envelope, unavailable
from .idempotency import idempotent
from .models import SubmitRequest, parse_batch, parse_submit
from .responses import BatchAccepted, ErrorEnvelope, SubmitAccepted, respond


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


def job_request(
    payload: SubmitRequest, *, priority: str | None = None, request_ref: str | None = None
) -> JobRequest:
    return JobRequest(
        code=payload.code,
        product_id=payload.product_id,
        priority=priority or payload.priority,
        callback=payload.callback,
        failure_callback=payload.failure_callback,
        metadata=payload.metadata,
        deliver=payload.deliver,
        traceparent=request.headers.get("traceparent"),
        request_ref=request_ref,
    )


def accepted_answer(state: PDFQueueState, accepted: Accepted) -> SubmitAccepted:
    record = accepted.record
    answer = SubmitAccepted(
        job_id=record.job_id,
        status=record.status,  # type: ignore[arg-type]
        position_in_queue=accepted.position,
        estimated_completion=iso_utc(accepted.estimated_completion),
        created_at=iso_utc(record.created_at) or "",
        status_url=state.job_url(record.job_id),
    )
    if accepted.deduplicated:
        answer.deduplicated = True
    return answer


def rejection(exc: SubmitRejected) -> APIError:
    """The error answer for a refused submit: 400 for a bad field, 503 otherwise."""
    if exc.field:
        return APIError(
            400, exc.reason, "Some fields are missing or invalid.", fields={exc.field: exc.message}
        )
    if exc.reason == "conflict":
        return APIError(409, exc.reason, exc.message)
    return unavailable(exc.reason, exc.message)


def submit_one(
    payload: SubmitRequest, *, priority: str | None = None, request_ref: str | None = None
) -> Accepted:
    try:
        return submit(
            current_pdfqueue(), job_request(payload, priority=priority, request_ref=request_ref)
        )
    except SubmitRejected as exc:
        raise rejection(exc) from None


def generate_async() -> Response:
    """202 with the new job; 200 with the report's running job when the submit joined it."""
    body = json_body()
    response = idempotent(
        body, lambda ref: _accepted_response(submit_one(parse_submit(body), request_ref=ref))
    )
    if "Location" not in response.headers:  # a replayed answer: the stored body, no headers
        response.headers["Location"] = response.get_json()["status_url"]
    return response


def _accepted_response(accepted: Accepted) -> Response:
    state = current_pdfqueue()
    answer = accepted_answer(state, accepted)
    status = 200 if accepted.deduplicated else 202
    return respond(answer, status, {"Location": answer.status_url})


def generate_batch() -> Response:
    """202 with one result per item, in order: a submit answer or an error envelope."""
    body = json_body()
    return idempotent(body, lambda ref: _batch_response(body, ref))


def _batch_response(body: Any, request_ref: str | None) -> Response:
    state = current_pdfqueue()
    items = parse_batch(body, state.settings.batch_max)
    parsed: list[SubmitRequest | APIError] = []
    for item in items:
        try:
            parsed.append(parse_submit(item))
        except APIError as exc:
            parsed.append(exc)
    requests = [
        job_request(p, request_ref=request_ref and f"{request_ref}:{index}")
        for index, p in enumerate(parsed)
        if isinstance(p, SubmitRequest)
    ]
    try:
        outcomes = iter(submit_many(state, requests))
    except SubmitRejected as exc:
        raise rejection(exc) from None
    results: list[SubmitAccepted | ErrorEnvelope] = []
    for item in parsed:
        outcome = item if isinstance(item, APIError) else next(outcomes)
        if isinstance(outcome, Accepted):
            results.append(accepted_answer(state, outcome))
        else:
            error = rejection(outcome) if isinstance(outcome, SubmitRejected) else outcome
            results.append(error_envelope(error))
    return respond(BatchAccepted(jobs=results), 202)
