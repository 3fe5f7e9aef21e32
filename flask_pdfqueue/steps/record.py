"""Record: the job's state in SQL (``pdf_job_results``) and in the report document.

SQL is written first: each of its status changes is conditional, so the run whose
change wins is the one that mirrors it into MongoDB (and owes the webhook). The
MongoDB mirror is best effort: the job's outcome must not be lost because MongoDB
is unreachable, and :func:`mirror_outcome` repairs it when the job runs again.
"""

from __future__ import annotations

import logging
from typing import Any

from pymongo.errors import PyMongoError

from ..extension import PDFQueueState
from ..records.sql import JobRecord
from ..storage import StoredPDF
from ..timestamps import utcnow

log = logging.getLogger(__name__)


def _note_in_report(state: PDFQueueState, record: JobRecord, **fields: Any) -> None:
    try:
        state.documents.set_pdf_generation(
            record.code,
            record.product_id,
            job_id=record.job_id,
            requested_at=record.created_at,
            fields={**fields, "updated_at": utcnow()},
        )
    except PyMongoError as exc:
        log.warning(
            "job %s: could not write pdf_generation (%s) to MongoDB: %s",
            record.job_id,
            fields.get("status"),
            type(exc).__name__,
        )


def record_started(state: PDFQueueState, record: JobRecord, retry_count: int) -> bool:
    """``processing`` in both places; False when the job already finished (a duplicate run)."""
    if not state.jobs.start_attempt(record.job_id, retry_count):
        return False
    _note_in_report(state, record, status="processing", retry_count=retry_count)
    return True


def record_stage(state: PDFQueueState, record: JobRecord, stage: str) -> None:
    state.jobs.set_stage(record.job_id, stage)


def record_retry(
    state: PDFQueueState,
    record: JobRecord,
    *,
    error_message: str,
    error_code: str,
    retry_count: int,
) -> None:
    """An attempt failed and another will follow: back to ``queued``, with the reason."""
    if state.jobs.note_retry(record.job_id, error_message=error_message, error_code=error_code):
        _note_in_report(
            state, record, status="queued", retry_count=retry_count, error_message=error_message
        )


def record_completed(state: PDFQueueState, record: JobRecord, stored: StoredPDF) -> bool:
    """``completed``; True for the run that made it so."""
    won = state.jobs.complete(
        record.job_id,
        pdf_url=state.download_url(record.job_id),
        google_drive_link=stored.google_drive_link,
        storage_key=stored.key,
    )
    if won:
        mirror_outcome(state, record.job_id)
    return won


def record_failed(
    state: PDFQueueState,
    record: JobRecord,
    *,
    status: str,
    error_message: str,
    error_code: str,
    retry_count: int,
) -> bool:
    """``failed`` (or ``cancelled``); True for the run that made it so."""
    won = state.jobs.fail(
        record.job_id,
        status=status,
        error_message=error_message,
        error_code=error_code,
        retry_count=retry_count,
    )
    if won:
        mirror_outcome(state, record.job_id)
    return won


def mirror_outcome(state: PDFQueueState, job_id: str) -> None:
    """Write the job's terminal state, as SQL has it, into the report document."""
    record = state.jobs.get(job_id)
    if record is None or not record.is_terminal:
        return
    if record.status == "completed":
        _note_in_report(
            state,
            record,
            status="completed",
            google_drive_link=record.google_drive_link,
            pdf_url=record.pdf_url,
            completed_at=record.completed_at,
            retry_count=record.retry_count,
        )
    else:
        _note_in_report(
            state,
            record,
            status=record.status,
            error_message=record.error_message,
            failed_at=record.completed_at,
            retry_count=record.retry_count,
        )
