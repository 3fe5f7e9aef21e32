"""What each API operation answers: the table the OpenAPI document is built from.

One :class:`Route` per operation (path, method, summary, request model, answers,
error statuses with their machine codes, parameters, headers). :mod:`.openapi`
turns it, with the pydantic models, into the document; ``tests/test_openapi.py``
holds it to the routes the blueprint registers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from ..records.sql import STATUSES
from ..records.sql.listing import MAX_LIMIT
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import MAX_KEY_LENGTH
from .legacy import FAILURE_STATUS
from .models import BatchRequest, SubmitRequest
from .responses import (
    BatchAccepted,
    Health,
    JobList,
    JobView,
    LegacyCompleted,
    ReplayAccepted,
    SubmitAccepted,
)
from .stats_models import QueueStats

JSON = "application/json"
PDF = "application/pdf"
HTML = "text/html"

#: Response headers, by name: what each says.
HEADERS: Mapping[str, tuple[str, dict[str, Any]]] = {
    "Location": (
        "The job's status URL (`status_url`); on a 302, the PDF's link.",
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
    403: "Switched off here",
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
class SuccessDoc:
    """A success answer: its status, what it means, and its body (a model, a PDF, or
    none at all for a redirect)."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    pdf: bool = False
    html: bool = False
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
    answers: tuple[SuccessDoc, ...]
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
#: ``jobs.download``: the job not completed, its file gone, or Google Drive not answering.
DOWNLOADING: Errors = {
    404: ("pdf_missing",),
    409: ("not_ready",),
    503: ("storage_unavailable",),
}
#: A legacy call whose job failed within the wait answers the job's error code.
LEGACY_FAILURES: Errors = merge(
    {status: (code,) for code, status in FAILURE_STATUS.items()},
    {503: ("internal_error",)},
)

#: ``code`` and ``productId``, as a submit takes them.
NAME = {"type": "string", "minLength": 1, "maxLength": 255}
JOB_ID = Param("job_id", "path", "The job's id (`pdf_` and 32 hex digits).", required=True)
IDEMPOTENCY_KEY = Param(
    IDEMPOTENCY_HEADER,
    "header",
    "Send the same key with the same body again within 24 hours to get the first answer "
    "again; with another body: 422 `idempotency_key_reused`.",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
)
TRACEPARENT = Param(
    "traceparent",
    "header",
    "W3C trace context (`00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`): kept with "
    "the job, in the worker's log lines (its trace id) and sent with each webhook delivery "
    "(same trace, a new span). Without a valid one (an invalid one is ignored, never refused) "
    "the job starts a trace of its own.",
    {"type": "string"},
)
ACCEPTED = SuccessDoc(202, "The job is queued.", SubmitAccepted, headers=("Location",))
TO_LINK = SuccessDoc(
    302,
    "A storage backend of your own that only links its files: the link (Google Drive "
    "files are served, fetched with the service's credentials).",
    headers=("Location",),
    empty=True,
)

ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/reports/generate-async",
        "submitJob",
        "Submit one report job",
        "reports",
        answers=(
            ACCEPTED,
            SuccessDoc(
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
        params=(IDEMPOTENCY_KEY, TRACEPARENT),
    ),
    Route(
        "post",
        "/reports/generate-batch",
        "submitBatch",
        "Submit up to PDFQUEUE_BATCH_MAX jobs",
        "reports",
        answers=(
            SuccessDoc(
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
        params=(IDEMPOTENCY_KEY, TRACEPARENT),
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
            SuccessDoc(
                200,
                "Completed within the wait: the links, or the PDF itself for "
                "`Accept: application/pdf`.",
                LegacyCompleted,
                pdf=True,
            ),
            TO_LINK,
            SuccessDoc(
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
        params=(TRACEPARENT,),
        open_codes=frozenset({503}),
    ),
    Route(
        "get",
        "/jobs",
        "listJobs",
        "List jobs, newest first",
        "jobs",
        answers=(SuccessDoc(200, "One page of jobs.", JobList),),
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
        answers=(SuccessDoc(200, "The job.", JobView),),
        errors=merge(UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB),
        params=(JOB_ID,),
    ),
    Route(
        "delete",
        "/jobs/{job_id}",
        "cancelJob",
        "Cancel a queued or running job",
        "jobs",
        answers=(SuccessDoc(200, "The job, now `cancelled`.", JobView),),
        errors=merge(UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB, {409: ("already_finished",)}),
        params=(JOB_ID,),
    ),
    Route(
        "get",
        "/reports/preview",
        "previewReport",
        "One report rendered on the spot, no queue (template authors)",
        "reports",
        answers=(
            SuccessDoc(
                200,
                "The report: HTML (`format=html`) or the PDF (`format=pdf`).",
                pdf=True,
                html=True,
            ),
        ),
        errors=merge(
            UNEXPECTED,
            KEYED,
            SERVICES,
            {
                400: ("invalid_query",),
                403: ("preview_disabled",),
                404: ("report_not_found",),
                422: ("template_error",),
            },
        ),
        params=(
            Param("code", "query", "The report's code.", NAME, required=True),
            Param("productId", "query", "The report's productId.", NAME, required=True),
            Param(
                "format", "query", "What to answer.", {"type": "string", "enum": ["html", "pdf"]}
            ),
        ),
    ),
    Route(
        "get",
        "/jobs/{job_id}/download",
        "downloadPdf",
        "A completed job's PDF",
        "jobs",
        answers=(
            SuccessDoc(
                200, "The PDF, as an attachment.", pdf=True, headers=("Content-Disposition",)
            ),
            TO_LINK,
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
        answers=(SuccessDoc(202, "The events owed again.", ReplayAccepted),),
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
        answers=(SuccessDoc(200, "The figures now.", QueueStats),),
        errors=merge(UNEXPECTED, KEYED, SERVICES),
    ),
    Route(
        "get",
        "/health",
        "getHealth",
        "Readiness of Redis, MongoDB, SQL, workers and the scheduler",
        "service",
        answers=(
            SuccessDoc(200, "Every check passed.", Health),
            SuccessDoc(
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
        answers=(SuccessDoc(200, "The OpenAPI 3.1 document of the API.", None),),
        errors=merge(UNEXPECTED, KEYED),
    ),
)
