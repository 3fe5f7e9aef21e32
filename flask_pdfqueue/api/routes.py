"""The API's routes, one table: each :class:`~.route_docs.Route` names its view and says
what it answers. The blueprint registers the routes from it and :mod:`.openapi` builds
the document from it, so a route cannot exist in one and not the other.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..records.sql import STATUSES
from ..records.sql.listing import MAX_LIMIT
from ..state import current_pdfqueue
from . import health, jobs, legacy, preview, stats, submit, webhook_claims, webhooks
from .models import BatchRequest, ClaimRequest, SubmitRequest
from .openapi import openapi_document
from .responses import (
    BatchAccepted,
    ClaimAnswer,
    Health,
    JobList,
    JobView,
    LegacyCompleted,
    ReplayAccepted,
    SubmitAccepted,
)
from .route_docs import (
    ACCEPTED,
    DOWNLOADING,
    IDEMPOTENCY_KEY,
    IDEMPOTENT,
    JOB_ID,
    JSON_BODY,
    KEYED,
    LEGACY_FAILURES,
    NAME,
    SERVICES,
    SUBMITTING,
    TO_LINK,
    TRACEPARENT,
    UNEXPECTED,
    UNKNOWN_JOB,
    Param,
    Route,
    SuccessDoc,
    merge,
)
from .stats_models import QueueStats


def serve_openapi() -> Response:
    state = current_pdfqueue()
    return jsonify(
        openapi_document(
            ROUTES,
            server_url=request.script_root + state.url_prefix,
            health_public=state.settings.health_public,
            batch_max=state.settings.batch_max,
        )
    )


ROUTES: tuple[Route, ...] = (
    Route(
        "post",
        "/reports/generate-async",
        "submitJob",
        "Submit one report job",
        "reports",
        view=submit.generate_async,
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
        view=submit.generate_batch,
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
        view=legacy.generate_and_wait,
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
        view=jobs.list_job_page,
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
        view=jobs.get_job,
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
        view=jobs.cancel_job,
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
        view=preview.preview,
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
        view=jobs.download,
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
        view=webhooks.replay_job_webhooks,
        answers=(SuccessDoc(202, "The events owed again.", ReplayAccepted),),
        errors=merge(
            UNEXPECTED, KEYED, SERVICES, UNKNOWN_JOB, {409: ("not_finished", "no_webhooks")}
        ),
        params=(JOB_ID,),
    ),
    Route(
        "post",
        "/webhooks/claims",
        "claimWebhookId",
        "Claim a `webhook-id` before acting on its event (receiver-side dedup)",
        "webhooks",
        description="The first claim of an id by a consumer answers `claimed: true`; every "
        "later one, also one at the same instant, `claimed: false`. Claims are kept 30 days.",
        view=webhook_claims.claim_webhook_id,
        answers=(SuccessDoc(200, "Whether this claim was the first.", ClaimAnswer),),
        errors=merge(UNEXPECTED, KEYED, SERVICES, JSON_BODY),
        request=ClaimRequest,
    ),
    Route(
        "get",
        "/queue/stats",
        "getQueueStats",
        "Queue, worker and webhook figures, and the alerts",
        "service",
        view=stats.queue_stats,
        answers=(SuccessDoc(200, "The figures now.", QueueStats),),
        errors=merge(UNEXPECTED, KEYED, SERVICES),
    ),
    Route(
        "get",
        "/health",
        "getHealth",
        "Readiness of Redis, MongoDB, SQL, workers and the scheduler",
        "service",
        view=health.health,
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
        view=serve_openapi,
        answers=(SuccessDoc(200, "The OpenAPI 3.1 document of the API.", None),),
        errors=merge(UNEXPECTED, KEYED),
    ),
)

#: Endpoints that answer without an API key when ``PDFQUEUE_HEALTH_PUBLIC`` is on.
PUBLIC_ENDPOINTS = frozenset(f"pdfqueue.{route.view.__name__}" for route in ROUTES if route.public)


def register_routes(bp: Blueprint) -> None:
    """Every route of the table, at its path (``{name}`` written Flask's way, ``<name>``)."""
    for route in ROUTES:
        path = route.path.replace("{", "<").replace("}", ">")
        bp.add_url_rule(path, view_func=route.view, methods=[route.method.upper()])
