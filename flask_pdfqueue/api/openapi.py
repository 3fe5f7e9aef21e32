"""``GET /openapi.json``: the API's OpenAPI 3.1 document, generated, never written by hand.

Bodies come from the pydantic models the routes use (requests from :mod:`.models`,
answers from :mod:`.responses`, every error as ``ErrorEnvelope``), so a field that
changes there changes here. What a model cannot say (which route answers what, its
error codes, parameters, headers) is the table :data:`ROUTES` below, one entry per
operation; ``tests/test_openapi.py`` holds it to the routes the blueprint registers,
and schemathesis holds it to the answers the running API gives.

Decisions, also in the README:

- The document needs an API key, like every route but health (SPEC §2: only health and
  ``/metrics`` may be opened). It tells nothing a client with a key cannot learn, but
  it maps the whole surface for anyone without one, and the clients that need it
  (n8n, code generators) hold a key anyway.
- Paths are written relative to the blueprint's mount point (``/jobs/{job_id}``), and
  ``servers`` names that mount point as a URL relative to where the document was
  fetched (``/api``, behind the WSGI ``SCRIPT_NAME`` if any), so a client joining the
  server URL and a path reaches the route on whatever host served the document.
- Each error answer lists its machine codes: in the description, as ``x-error-codes``,
  and as an ``enum`` on ``error.code`` (so validating an answer checks its code too),
  except where the set is open: a legacy call whose job failed answers 503 with the
  job's own ``error_code``, whatever failure it met.
- ``405`` (a method no route at the path takes, with ``Allow``) and ``404 not_found``
  (a path no route serves) belong to no operation; the document's description says so.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..extension import current_pdfqueue
from ..records.sql import STATUSES
from ..records.sql.listing import MAX_LIMIT
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import MAX_KEY_LENGTH
from .legacy import FAILURE_STATUS
from .models import BatchRequest, SubmitRequest
from .responses import (
    BatchAccepted,
    ErrorEnvelope,
    Health,
    JobList,
    JobView,
    LegacyCompleted,
    ReplayAccepted,
    SubmitAccepted,
)
from .stats_models import QueueStats

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"
JSON = "application/json"
PDF = "application/pdf"

#: Response headers, by name: what each says.
HEADERS: Mapping[str, tuple[str, dict[str, Any]]] = {
    "Location": (
        "The job's status URL (`status_url`); on a 302, the PDF's Google Drive link.",
        {"type": "string"},
    ),
    "Retry-After": ("Seconds to wait before trying again.", {"type": "string"}),
    "WWW-Authenticate": ("`Bearer`: how to send the API key.", {"type": "string"}),
    "X-Correlation-Id": ("The id the log line of this error carries.", {"type": "string"}),
    "Content-Disposition": (
        "`attachment; filename=<code>-<productId>.pdf`.",
        {"type": "string"},
    ),
}
#: Headers every error answer with this status carries.
ERROR_HEADERS: Mapping[int, tuple[str, ...]] = {
    401: ("WWW-Authenticate",),
    429: ("Retry-After",),
    500: ("X-Correlation-Id",),
    503: ("Retry-After",),
}
ERROR_TITLES: Mapping[int, str] = {
    400: "Bad request",
    401: "Missing or wrong API key",
    404: "Not found",
    409: "Conflict with the job's state",
    413: "Body too large",
    415: "Body not JSON",
    422: "Unprocessable",
    429: "Rate limited",
    500: "Unexpected error",
    503: "Unavailable",
}


@dataclass(frozen=True)
class Answer:
    """A success answer: its status, what it means, and its body (a model, a PDF, or
    none at all for a redirect)."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    pdf: bool = False
    headers: tuple[str, ...] = ()
    empty: bool = False


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query", "header"]
    description: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


Errors = Mapping[int, tuple[str, ...]]


@dataclass(frozen=True)
class Route:
    """One operation: ``path`` is relative to the blueprint's mount point."""

    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    answers: tuple[Answer, ...]
    errors: Errors
    request: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    #: Answers without a key when ``PDFQUEUE_HEALTH_PUBLIC`` is on.
    public: bool = False
    #: Error statuses whose codes are not a closed set (no ``enum``).
    open_codes: frozenset[int] = frozenset()
    description: str = ""


def merge(*tables: Errors) -> dict[int, tuple[str, ...]]:
    """Error tables joined, codes of one status in order and each once."""
    merged: dict[int, tuple[str, ...]] = {}
    for table in tables:
        for status, codes in table.items():
            merged[status] = tuple(dict.fromkeys((*merged.get(status, ()), *codes)))
    return dict(sorted(merged.items()))


#: Every route may fail unexpectedly; every route but health may be refused a key or a turn.
UNEXPECTED: Errors = {500: ("internal_error",)}
KEYED: Errors = {401: ("unauthorized",), 429: ("rate_limited",)}
#: A backing service (Redis, MongoDB, SQL) that does not answer.
SERVICES: Errors = {503: ("service_unavailable",)}
#: Routes that read a JSON body (``submit.json_body``, ``models.parse_submit``).
JSON_BODY: Errors = {
    400: ("invalid_json", "invalid_body", "invalid_fields"),
    413: ("payload_too_large",),
    415: ("unsupported_media_type",),
}
#: Submitting one job (``submission.submit`` through ``submit.rejection``).
SUBMITTING: Errors = {409: ("conflict",), 503: ("queue_full", "queue_unavailable")}
IDEMPOTENT: Errors = {
    400: ("invalid_idempotency_key",),
    409: ("idempotency_key_in_use",),
    422: ("idempotency_key_reused",),
}
UNKNOWN_JOB: Errors = {404: ("job_not_found",)}
#: ``jobs.download``: the job not completed, or its file gone.
DOWNLOADING: Errors = {404: ("pdf_missing",), 409: ("not_ready",)}
#: A legacy call whose job failed within the wait answers the job's error code.
LEGACY_FAILURES: Errors = merge(
    {status: (code,) for code, status in FAILURE_STATUS.items()},
    {503: ("internal_error",)},
)

JOB_ID = Param("job_id", "path", "The job's id (`pdf_` and 32 hex digits).", required=True)
IDEMPOTENCY_KEY = Param(
    IDEMPOTENCY_HEADER,
    "header",
    "Send the same key with the same body again within 24 hours to get the first answer "
    "again; with another body: 422 `idempotency_key_reused`.",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
)
ACCEPTED = Answer(202, "The job is queued.", SubmitAccepted, headers=("Location",))
TO_DRIVE = Answer(302, "The PDF is in Google Drive: its link.", headers=("Location",), empty=True)

ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/reports/generate-async",
        "submitJob",
        "Submit one report job",
        "reports",
        answers=(
            ACCEPTED,
            Answer(
                200,
                "The report's job was already queued or running and the submit joined it "
                "(`deduplicated: true`), or the answer to an earlier request with the same "
                "`Idempotency-Key`.",
                SubmitAccepted,
                headers=("Location",),
            ),
        ),
        errors=merge(UNEXPECTED, KEYED, SERVICES, JSON_BODY, IDEMPOTENT, SUBMITTING),
        request=SubmitRequest,
        params=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "post",
        "/reports/generate-batch",
        "submitBatch",
        "Submit up to PDFQUEUE_BATCH_MAX jobs",
        "reports",
        answers=(
            Answer(
                202,
                "One result per item, in order: the submit answer, or the error envelope "
                "of an item that was refused (each item is judged on its own).",
                BatchAccepted,
            ),
        ),
        errors=merge(
            UNEXPECTED,
            KEYED,
            SERVICES,
            JSON_BODY,
            IDEMPOTENT,
            {413: ("too_many_jobs",), 503: ("queue_unavailable",)},
        ),
        request=BatchRequest,
        params=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "post",
        "/reports/generate",
        "generateAndWait",
        "Submit one job and wait for it (legacy, synchronous)",
        "reports",
        description="The job goes first (high priority); the call waits up to "
        "`PDFQUEUE_SYNC_TIMEOUT` seconds for it. A job that failed within the wait answers "
        "its error code, with its `job_id`: 404 `report_not_found`, 409 `cancelled`, "
        "422 `template_error`, 503 for any other failure.",
        answers=(
            Answer(
                200,
                "Completed within the wait: the links, or the PDF itself for "
                "`Accept: application/pdf` (a 302 to it when it is in Google Drive).",
                LegacyCompleted,
                pdf=True,
            ),
            TO_DRIVE,
            Answer(
                202,
                "Still running after the wait: the job goes on.",
                SubmitAccepted,
                headers=("Location",),
            ),
        ),
        errors=merge(
            UNEXPECTED, KEYED, SERVICES, JSON_BODY, SUBMITTING, LEGACY_FAILURES, DOWNLOADING
        ),
        request=SubmitRequest,
        open_codes=frozenset({503}),
    ),
    Route(
        "get",
        "/jobs",
        "listJobs",
        "List jobs, newest first",
        "jobs",
        answers=(Answer(200, "One page of jobs.", JobList),),
        errors=merge(UNEXPECTED, KEYED, SERVICES, {400: ("invalid_query",)}),
        params=(
            Param(
                "status",
                "query",
                "Only jobs with this status.",
                {"type": "string", "enum": list(STATUSES)},
            ),
            Param("code", "query", "Only jobs of this report `code`."),
            Param("productId", "query", "Only jobs of this `productId`."),
            Param(
                "limit",
                "query",
                "Jobs per page.",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
            ),
            Param("cursor", "query", "`next_cursor` of the previous page."),
        ),
    ),
    Route(
        "get",
        "/jobs/{job_id}",
        "getJob",
        "A job's status",
        "jobs",
        answers=(Answer(200, "The job.", JobView),),
        errors=merge(UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB),
        params=(JOB_ID,),
    ),
    Route(
        "delete",
        "/jobs/{job_id}",
        "cancelJob",
        "Cancel a queued or running job",
        "jobs",
        answers=(Answer(200, "The job, now `cancelled`.", JobView),),
        errors=merge(UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB, {409: ("already_finished",)}),
        params=(JOB_ID,),
    ),
    Route(
        "get",
        "/jobs/{job_id}/download",
        "downloadPdf",
        "A completed job's PDF",
        "jobs",
        answers=(
            Answer(200, "The PDF, as an attachment.", pdf=True, headers=("Content-Disposition",)),
            TO_DRIVE,
        ),
        errors=merge(UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB, DOWNLOADING),
        params=(JOB_ID,),
    ),
    Route(
        "post",
        "/webhooks/{job_id}/replay",
        "replayWebhooks",
        "Send a finished job's webhook events again (same `webhook-id`)",
        "webhooks",
        answers=(Answer(202, "The events owed again.", ReplayAccepted),),
        errors=merge(
            UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB, {409: ("not_finished", "no_webhooks")}
        ),
        params=(JOB_ID,),
    ),
    Route(
        "get",
        "/queue/stats",
        "getQueueStats",
        "Queue, worker and webhook figures, and the alerts",
        "service",
        answers=(Answer(200, "The figures now.", QueueStats),),
        errors=merge(UNEXPECTED, KEYED, SERVICES),
    ),
    Route(
        "get",
        "/health",
        "getHealth",
        "Readiness of Redis, MongoDB, SQL, workers and the scheduler",
        "service",
        answers=(
            Answer(200, "Every check passed.", Health),
            Answer(
                503,
                "A check failed (only which one; why goes to the log).",
                Health,
                headers=("Retry-After",),
            ),
        ),
        errors=merge(UNEXPECTED, {401: ("unauthorized",)}),
        public=True,
    ),
    Route(
        "get",
        "/openapi.json",
        "getOpenAPI",
        "This document",
        "service",
        answers=(Answer(200, "The OpenAPI 3.1 document of the API.", None),),
        errors=merge(UNEXPECTED, KEYED),
    ),
)


def openapi_document(*, server_url: str, health_public: bool, batch_max: int) -> dict[str, Any]:
    """The document for an API mounted at ``server_url``."""
    schemas = copy.deepcopy(component_schemas())
    schemas["BatchRequest"]["properties"]["jobs"]["maxItems"] = batch_max
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        public = route.public and health_public
        paths.setdefault(route.path, {})[route.method] = _operation(route, public=public)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "flask-pdfqueue",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "servers": [{"url": server_url, "description": "Where the API is mounted."}],
        "tags": [
            {"name": "reports", "description": "Submitting report jobs."},
            {"name": "jobs", "description": "Following, cancelling and downloading jobs."},
            {"name": "webhooks", "description": "Webhook events of finished jobs."},
            {"name": "service", "description": "The service itself."},
        ],
        "security": [{"ApiKey": []}, {"Bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


DESCRIPTION = """\
Queued PDF report generation. Every operation needs an API key, sent as `X-API-Key` or \
`Authorization: Bearer`, except `/health` when `PDFQUEUE_HEALTH_PUBLIC` is on (the default).

Every error answers `{"error": {"code", "message", "fields"?}}` (`ErrorEnvelope`); each \
error answer below lists its codes. Besides those, any path under the API answers \
`404 not_found` when no route serves it and `405 method_not_allowed` (with `Allow`) for \
a method its route does not take; `OPTIONS` answers `204` with `Allow`, without a key."""


@cache
def component_schemas() -> dict[str, Any]:
    """The JSON Schemas of every request and answer model, keyed by model name."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (SubmitRequest, "validation"),
        (BatchRequest, "validation"),
    ]
    answers = {model for route in ROUTES for answer in route.answers if (model := answer.model)}
    models += [(model, "serialization") for model in sorted(answers, key=lambda m: m.__name__)]
    models.append((ErrorEnvelope, "serialization"))
    _, schema = models_json_schema(models, ref_template=REF)
    defs: dict[str, Any] = schema["$defs"]
    return defs


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {"description": HEADERS[name][0], "schema": HEADERS[name][1], "required": True}
        for name in names
    }


def _operation(route: Route, *, public: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag],
    }
    if route.description:
        operation["description"] = route.description
    if route.params:
        operation["parameters"] = [_parameter(p) for p in route.params]
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(route.request)}},
        }
    responses: dict[str, Any] = {}
    for answer in route.answers:
        responses[str(answer.status)] = _success(answer)
    errors = dict(route.errors)
    if public:
        operation["security"] = []
        errors.pop(401, None)
    for status in sorted(errors):
        responses[str(status)] = _error(
            status, errors[status], closed=status not in route.open_codes
        )
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _parameter(param: Param) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": param.where,
        "description": param.description,
        "required": param.required,
        "schema": dict(param.schema),
    }


def _success(answer: Answer) -> dict[str, Any]:
    response: dict[str, Any] = {"description": answer.description}
    if answer.headers:
        response["headers"] = _headers(answer.headers)
    if answer.empty:
        return response
    content: dict[str, Any] = {}
    if answer.model is not None:
        content[JSON] = {"schema": _ref(answer.model)}
    elif not answer.pdf:
        content[JSON] = {"schema": {"type": "object"}}
    if answer.pdf:
        content[PDF] = {}
    response["content"] = content
    return response


def _error(status: int, codes: tuple[str, ...], *, closed: bool) -> dict[str, Any]:
    listed = ", ".join(f"`{code}`" for code in codes)
    more = "" if closed else ", or the failed job's own code"
    schema: dict[str, Any] = _ref(ErrorEnvelope)
    if closed:
        code = {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}}
        schema = {"allOf": [schema, code]}
    response: dict[str, Any] = {
        "description": f"{ERROR_TITLES[status]}: {listed}{more}.",
        "content": {JSON: {"schema": schema}},
        "x-error-codes": list(codes),
    }
    if status in ERROR_HEADERS:
        response["headers"] = _headers(ERROR_HEADERS[status])
    return response


def serve_openapi() -> Response:
    state = current_pdfqueue()
    return jsonify(
        openapi_document(
            server_url=request.script_root + state.url_prefix,
            health_public=state.settings.health_public,
            batch_max=state.settings.batch_max,
        )
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/openapi.json", view_func=serve_openapi, methods=["GET"])
