"""``GET /jobs/<id>`` and ``GET /jobs/<id>/download``: answered from SQL, so they outlive Redis."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, jsonify, send_file
from redis.exceptions import RedisError

from ..extension import PDFQueueState, current_pdfqueue
from ..records.sql import Delivery, JobRecord
from ..timestamps import iso_utc
from .envelope import APIError

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


def _record_or_404(job_id: str) -> JobRecord:
    record = current_pdfqueue().jobs.get(job_id)
    if record is None:
        raise APIError(404, "job_not_found", f"No job with id {job_id!r}.")
    return record


def job_body(state: PDFQueueState, record: JobRecord) -> dict[str, Any]:
    deliveries = state.deliveries.for_job(record.job_id) if record.is_terminal else []
    # A finished job is "notifying" while any of its webhooks is still owed.
    stage = "notifying" if any(d.is_owed for d in deliveries) else record.stage
    body: dict[str, Any] = {
        "job_id": record.job_id,
        "code": record.code,
        "productId": record.product_id,
        "status": record.status,
        "stage": stage,
        "progress": STAGE_PROGRESS.get(stage, 0),
        "priority": record.priority,
        "created_at": iso_utc(record.created_at),
        "started_at": iso_utc(record.started_at),
        "ended_at": iso_utc(record.completed_at) if record.is_terminal else None,
        "retry_count": record.retry_count,
        "google_drive_link": record.google_drive_link,
        "pdf_url": record.pdf_url,
        "error": record.error_message,
        "error_code": record.error_code,
    }
    if record.status == "queued":
        try:
            position = state.queue.position(record.rq_job_id or record.job_id, record.priority)
            if position is not None:
                body["position_in_queue"] = position
                body["estimated_completion"] = iso_utc(state.queue.estimate(position))
        except RedisError:
            pass  # the record is still the truth; the position is a bonus
    if deliveries:
        body["webhook"] = webhook_summary(deliveries)
        body["webhooks"] = [delivery_body(d) for d in deliveries]
    return body


def delivery_body(delivery: Delivery) -> dict[str, Any]:
    """One subscriber's delivery. The URL is shown without its query string: n8n's resume
    URLs carry their signature there."""
    return {
        "webhook_id": delivery.webhook_id,
        "url": urlunsplit(urlsplit(delivery.url)._replace(query="", fragment="")),
        "event": delivery.event,
        "state": delivery.state,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "next_attempt_at": iso_utc(delivery.next_attempt_at) if delivery.is_owed else None,
        "delivered_at": iso_utc(delivery.delivered_at),
    }


def webhook_summary(deliveries: list[Delivery]) -> dict[str, Any]:
    """SPEC's one-line view over every subscriber: owed while any is owed, failed if any
    failed, else delivered; the newest answer's status."""
    states = {d.state for d in deliveries}
    state = next(s for s in ("sending", "pending", "failed", "delivered") if s in states)
    latest = max(deliveries, key=lambda d: d.updated_at)
    return {
        "state": state,
        "attempts": sum(d.attempts for d in deliveries),
        "last_status": latest.last_status,
    }


def get_job(job_id: str) -> Response:
    return jsonify(job_body(current_pdfqueue(), _record_or_404(job_id)))


def download(job_id: str) -> Response:
    state = current_pdfqueue()
    record = _record_or_404(job_id)
    if record.status != "completed" or not record.storage_key:
        raise APIError(
            409, "not_ready", f"The job is {record.status}; the PDF exists once it is completed."
        )
    path = state.storage.local_path(record.storage_key)
    if path is None:
        raise APIError(404, "pdf_missing", "The stored PDF of this job is no longer there.")
    return send_file(
        path, mimetype="application/pdf", as_attachment=True, download_name=record.pdf_filename
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/jobs/<job_id>", view_func=get_job, methods=["GET"])
    bp.add_url_rule("/jobs/<job_id>/download", view_func=download, methods=["GET"])
