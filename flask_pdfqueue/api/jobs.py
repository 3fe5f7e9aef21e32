"""``/jobs``: status, listing, download and cancel, answered from SQL (they outlive Redis)."""

from __future__ import annotations

import io
from urllib.parse import urlsplit, urlunsplit

from flask import Response, request, send_file
from redis.exceptions import RedisError

from ..errors import JobFailure
from ..jobs.cancellation import AlreadyFinished, cancel
from ..jobs.tracing import trace_id_of
from ..records.sql import STATUSES, Delivery, JobRecord
from ..records.sql.listing import MAX_LIMIT, BadCursor, list_jobs
from ..state import PDFQueueState, current_pdfqueue
from ..storage import ReadableStorage
from ..timestamps import iso_utc
from .envelope import APIError, unavailable
from .responses import DeliveryView, JobList, JobView, WebhookSummary, respond

#: Progress shown for each stage of a job (SPEC §2).
STAGE_PROGRESS = {
    "queued": 0,
    "loading": 10,
    "rendering": 30,
    "storing": 70,
    "recording": 90,
    "notifying": 95,
    "done": 100,
}


def record_or_404(job_id: str) -> JobRecord:
    record = current_pdfqueue().jobs.get(job_id)
    if record is None:
        raise APIError(404, "job_not_found", f"No job with id {job_id!r}.")
    return record


def job_view(state: PDFQueueState, record: JobRecord, *, with_position: bool = True) -> JobView:
    deliveries = state.deliveries.for_job(record.job_id) if record.is_terminal else []
    # A finished job is "notifying" while any of its webhooks is still owed.
    stage = "notifying" if any(d.is_owed for d in deliveries) else record.stage
    view = JobView(
        job_id=record.job_id,
        code=record.code,
        productId=record.product_id,
        status=record.status,  # type: ignore[arg-type]
        stage=stage,  # type: ignore[arg-type]
        progress=STAGE_PROGRESS.get(stage, 0),
        priority=record.priority,  # type: ignore[arg-type]
        created_at=iso_utc(record.created_at) or "",
        started_at=iso_utc(record.started_at),
        ended_at=iso_utc(record.completed_at) if record.is_terminal else None,
        retry_count=record.retry_count,
        google_drive_link=record.google_drive_link,
        pdf_url=record.pdf_url,
        error=record.error_message,
        error_code=record.error_code,
        render_warnings=list(record.render_warnings),
        trace_id=trace_id_of(record.traceparent),
    )
    if record.status == "queued" and with_position:
        try:
            position = state.queue.position(record.rq_job_id or record.job_id, record.priority)
            if position is not None:
                view.position_in_queue = position
                view.estimated_completion = iso_utc(state.queue.estimate(position))
        except RedisError:
            pass  # the record is still the truth; the position is a bonus
    if deliveries:
        view.webhook = webhook_summary(deliveries)
        view.webhooks = [delivery_view(d) for d in deliveries]
    return view


def delivery_view(delivery: Delivery) -> DeliveryView:
    """One subscriber's delivery. The URL is shown without its query string: n8n's resume
    URLs carry their signature there."""
    return DeliveryView(
        webhook_id=delivery.webhook_id,
        url=urlunsplit(urlsplit(delivery.url)._replace(query="", fragment="")),
        event=delivery.event,  # type: ignore[arg-type]
        state=delivery.state,  # type: ignore[arg-type]
        attempts=delivery.attempts,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        next_attempt_at=iso_utc(delivery.next_attempt_at) if delivery.is_owed else None,
        delivered_at=iso_utc(delivery.delivered_at),
    )


def webhook_summary(deliveries: list[Delivery]) -> WebhookSummary:
    """SPEC's one-line view over every subscriber: owed while any is owed, failed if any
    failed, else delivered; the newest answer's status."""
    states = {d.state for d in deliveries}
    state = next(s for s in ("sending", "pending", "failed", "delivered") if s in states)
    latest = max(deliveries, key=lambda d: d.updated_at)
    return WebhookSummary(
        state=state,
        attempts=sum(d.attempts for d in deliveries),
        last_status=latest.last_status,
    )


def get_job(job_id: str) -> Response:
    return respond(job_view(current_pdfqueue(), record_or_404(job_id)))


def list_job_page() -> Response:
    """``GET /jobs?status=&code=&productId=&limit=&cursor=``: newest first."""
    args = request.args
    unknown = set(args) - {"status", "code", "productId", "limit", "cursor"}
    if unknown:
        raise _bad_query({name: "is not a known parameter" for name in sorted(unknown)})
    status = args.get("status")
    if status is not None and status not in STATUSES:
        raise _bad_query({"status": f"must be one of {', '.join(STATUSES)}"})
    try:
        limit = int(args.get("limit", "50"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad_query({"limit": f"must be a whole number from 1 to {MAX_LIMIT}"})
    state = current_pdfqueue()
    try:
        page = list_jobs(
            state.jobs.engine,
            status=status,
            code=args.get("code"),
            product_id=args.get("productId"),
            limit=limit,
            cursor=args.get("cursor"),
        )
    except BadCursor:
        raise _bad_query({"cursor": "is not a cursor this listing handed out"}) from None
    views = [job_view(state, record, with_position=False) for record in page.jobs]
    return respond(JobList(jobs=views, next_cursor=page.next_cursor))


def _bad_query(fields: dict[str, str]) -> APIError:
    return APIError(400, "invalid_query", "Some query parameters are invalid.", fields=fields)


def cancel_job(job_id: str) -> Response:
    """``DELETE /jobs/<id>``: a queued or running job ends ``cancelled``; 409 once finished."""
    state = current_pdfqueue()
    try:
        record = cancel(state, record_or_404(job_id))
    except AlreadyFinished as finished:
        raise APIError(
            409,
            "already_finished",
            f"The job is {finished.record.status} already; there is nothing to cancel.",
        ) from None
    return respond(job_view(state, record))


def download(job_id: str) -> Response:
    state = current_pdfqueue()
    record = record_or_404(job_id)
    if record.status != "completed" or not record.storage_key:
        raise APIError(
            409, "not_ready", f"The job is {record.status}; the PDF exists once it is completed."
        )
    storage = state.storage
    path = storage.local_path(record.storage_key)
    if path is not None:
        return send_file(
            path, mimetype="application/pdf", as_attachment=True, download_name=record.pdf_filename
        )
    if isinstance(storage, ReadableStorage):  # Google Drive: fetched with our credentials
        try:
            pdf = storage.read(record.storage_key)
        except JobFailure as failure:
            if failure.error_code != "storage_rejected":
                raise unavailable("storage_unavailable", failure.message) from None
            raise _missing() from None
        return send_file(
            io.BytesIO(pdf),
            mimetype="application/pdf",
            as_attachment=True,
            download_name=record.pdf_filename,
        )
    if record.google_drive_link:  # a backend of your own that only links its files
        return Response(status=302, headers={"Location": record.google_drive_link})
    raise _missing()


def _missing() -> APIError:
    return APIError(404, "pdf_missing", "The stored PDF of this job is no longer there.")
