"""Request bodies, validated strictly: bounded strings, known fields only, no coercion."""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .envelope import APIError

METADATA_MAX_BYTES = 4096
Model = TypeVar("Model", bound=BaseModel)


class SubmitRequest(BaseModel):
    """The body of ``POST /reports/generate-async``."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    code: str = Field(min_length=1, max_length=255)
    product_id: str = Field(alias="productId", min_length=1, max_length=255)
    priority: Literal["high", "normal", "low"] = "normal"
    callback: str | None = Field(default=None, min_length=1, max_length=2048)
    failure_callback: str | None = Field(default=None, min_length=1, max_length=2048)
    metadata: dict[str, Any] | None = None
    deliver: Literal["link", "inline"] = Field(
        default="link",
        description="`inline`: the success webhook carries the PDF itself as `pdf_base64` "
        "(up to PDFQUEUE_INLINE_PDF_MAX_BYTES; a larger PDF is left out and the payload "
        "says so).",
    )

    @field_validator("code", "product_id")
    @classmethod
    def _printable(cls, value: str) -> str:
        if any(ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("must not contain control characters")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_small(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if (
            value is not None
            and len(json.dumps(value, allow_nan=False).encode()) > METADATA_MAX_BYTES
        ):
            raise ValueError(f"must serialise to at most {METADATA_MAX_BYTES} bytes of JSON")
        return value


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def parse_submit(body: Any) -> SubmitRequest:
    """Validate a decoded JSON body, or raise a 400 naming every bad field."""
    return parse_model(SubmitRequest, body)


class ClaimRequest(BaseModel):
    """The body of ``POST /webhooks/claims``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    webhook_id: str = Field(min_length=1, max_length=255, description="The event's `webhook-id`.")
    consumer: str = Field(
        default="",
        max_length=255,
        description="Who claims: each receiver (e.g. one n8n trigger) has claims of its own.",
    )


def parse_model(model: type[Model], body: Any) -> Model:
    """Validate a decoded JSON body as ``model``, or raise a 400 naming every bad field."""
    if not isinstance(body, dict):
        raise APIError(400, "invalid_body", "The body must be a JSON object.")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        fields = {_field_name(e["loc"]): _problem(e) for e in exc.errors()}
        raise APIError(
            400, "invalid_fields", "Some fields are missing or invalid.", fields=fields
        ) from None


class BatchRequest(BaseModel):
    """The body of ``POST /reports/generate-batch`` (each item is judged on its own)."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[SubmitRequest] = Field(min_length=1)


def parse_batch(body: Any, limit: int) -> list[Any]:
    """The items of a batch body, unvalidated (one bad item must not sink the others);
    400 for a body that is not a batch, 413 for more than ``limit`` items."""
    if not isinstance(body, dict) or set(body) != {"jobs"} or not isinstance(body["jobs"], list):
        raise APIError(
            400,
            "invalid_body",
            'The body must be a JSON object {"jobs": [...]} and nothing else.',
            fields={"jobs": "is required, as a list of jobs"},
        )
    items: list[Any] = body["jobs"]
    if not items:
        raise APIError(400, "invalid_fields", "The batch is empty.", fields={"jobs": "is empty"})
    if len(items) > limit:
        raise APIError(
            413,
            "too_many_jobs",
            f"A batch holds at most {limit} jobs (PDFQUEUE_BATCH_MAX); this one has {len(items)}.",
        )
    return items
