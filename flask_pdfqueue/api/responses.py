"""The API's answers as pydantic models: what each route returns, and what OpenAPI says.

Routes build these and send ``dump(model)``; the OpenAPI document is generated from
the same classes, so the two cannot drift apart. Optional keys are left out of an
answer unless set (``exclude_unset``); keys that are always there may be null.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import Response, jsonify
from pydantic import BaseModel, ConfigDict, Field

Status = Literal["queued", "processing", "completed", "failed", "cancelled"]
Stage = Literal["queued", "loading", "rendering", "storing", "recording", "notifying", "done"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(Answer):
    code: str = Field(description="Stable machine code, e.g. `invalid_fields`.")
    message: str = Field(description="What was wrong, in a sentence.")
    fields: dict[str, str] | None = Field(
        default=None, description="Per-field problems, for `invalid_fields`."
    )


class ErrorEnvelope(Answer):
    """Every error answer (and every refused item of a batch)."""

    error: ErrorBody
    job_id: str | None = Field(
        default=None, description="The job, when the error is its outcome (legacy endpoint)."
    )


class SubmitAccepted(Answer):
    """A job accepted (202), or joined because its report was already queued or running
    (200, ``deduplicated``)."""

    job_id: str
    status: Status
    position_in_queue: int | None = Field(description="Jobs that run before this one.")
    estimated_completion: str | None = Field(description="ISO 8601 UTC.")
    created_at: str
    status_url: str
    deduplicated: bool | None = Field(
        default=None, description="Present (true) when the submit joined a running job."
    )


class BatchAccepted(Answer):
    jobs: list[SubmitAccepted | ErrorEnvelope] = Field(
        description="One result per submitted item, in order."
    )


class WebhookSummary(Answer):
    state: Literal["pending", "sending", "delivered", "failed"]
    attempts: int
    last_status: int | None


class DeliveryView(Answer):
    webhook_id: str
    url: str = Field(description="The callback URL without its query string.")
    event: Status
    state: Literal["pending", "sending", "delivered", "failed"]
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: str | None
    delivered_at: str | None


class JobView(Answer):
    job_id: str
    code: str
    productId: str
    status: Status
    stage: Stage
    progress: int
    priority: Literal["high", "normal", "low"]
    created_at: str
    started_at: str | None
    ended_at: str | None
    retry_count: int
    google_drive_link: str | None
    pdf_url: str | None
    error: str | None
    error_code: str | None
    render_warnings: list[str] = Field(
        description="What WeasyPrint warned about while rendering the PDF (an unknown CSS "
        "property, a font it could not load); the PDF was made all the same."
    )
    trace_id: str | None = Field(
        description="The W3C trace id: the submit's `traceparent`, or one the service started."
    )
    position_in_queue: int | None = None
    estimated_completion: str | None = None
    webhook: WebhookSummary | None = None
    webhooks: list[DeliveryView] | None = None


class JobList(Answer):
    jobs: list[JobView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class LegacyCompleted(Answer):
    """The legacy endpoint's answer when the job finished within the wait."""

    job_id: str
    status: Literal["completed"]
    google_drive_link: str | None
    pdf_url: str | None


class ReplayAccepted(Answer):
    job_id: str
    replayed: list[str] = Field(description="webhook-ids owed again.")
    in_flight: list[str] = Field(description="webhook-ids mid-attempt, left to it.")


class ClaimAnswer(Answer):
    webhook_id: str
    claimed: bool = Field(
        description="True for the first claim of this id by this consumer: run the event. "
        "False for every later one: it was handled already, drop it."
    )


class HealthCheck(Answer):
    ok: bool
    count: int | None = None


class Health(Answer):
    status: Literal["ok", "unavailable"]
    checks: dict[str, HealthCheck]


def dump(answer: BaseModel) -> dict[str, Any]:
    """The JSON-ready form of an answer: unset optional keys left out."""
    return answer.model_dump(mode="json", exclude_unset=True)


def respond(
    answer: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    response = jsonify(dump(answer))
    response.status_code = status
    response.headers.update(headers or {})
    return response
