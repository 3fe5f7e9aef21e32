"""How an API operation is described: :class:`Route` (path, method, view, summary,
request model, answers, error statuses with their machine codes, parameters, headers),
and the answers, errors and parameters several routes share. The table of routes is
:data:`.routes.ROUTES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import MAX_KEY_LENGTH
from .legacy import FAILURE_STATUS
from .responses import (
    SubmitAccepted,
)

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
    #: The view function that serves it (its name is the endpoint's).
    view: Callable[..., ResponseReturnValue]
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
