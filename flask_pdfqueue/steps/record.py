"""Record: the job's state in SQL (``pdf_job_results``) and in the report document.

MongoDB is written first and SQL last: the SQL row is the commit point, so once
SQL says a job is finished, the report document says so too.
"""

from __future__ import annotations

from typing import Any

from ..extension import PDFQueueState
from ..records.sql import JobRecord, utcnow
from ..storage import StoredPDF


def pdf_url(state: PDFQueueState, job_id: str) -> str:
    """The service's own download URL (workers have no request to build it from)."""
    return f"{state.settings.public_url.rstrip('/')}{state.url_prefix}/jobs/{job_id}/download"


def _report_state(state: PDFQueueState, record: JobRecord, **fields: Any) -> None:
    state.documents.set_pdf_generation(
        record.code,
        record.product_id,
        job_id=record.job_id,
        requested_at=record.created_at,
        fields={**fields, "updated_at": utcnow()},
    )


def record_started(state: PDFQueueState, record: JobRecord, retry_count: int) -> bool:
    """``processing`` in both places; False when the job already finished (a duplicate run)."""
    if record.is_terminal:
        return False
    _report_state(state, record, status="processing", retry_count=retry_count)
    return state.jobs.start_attempt(record.job_id, retry_count)


def record_stage(state: PDFQueueState, record: JobRecord, stage: str) -> None:
    state.jobs.set_stage(record.job_id, stage)


def record_completed(state: PDFQueueState, record: JobRecord, stored: StoredPDF) -> bool:
    """``completed``; True for the run that made it so (that run announces it)."""
    url = pdf_url(state, record.job_id)
    _report_state(
        state,
        record,
        status="completed",
        google_drive_link=stored.google_drive_link,
        pdf_url=url,
        completed_at=utcnow(),
        retry_count=record.retry_count,
    )
    return state.jobs.complete(
        record.job_id,
        pdf_url=url,
        google_drive_link=stored.google_drive_link,
        storage_key=stored.key,
    )


def record_retry(
    state: PDFQueueState,
    record: JobRecord,
    *,
    error_message: str,
    error_code: str,
    retry_count: int,
) -> None:
    """An attempt failed and another will follow: back to ``queued``, with the reason."""
    _report_state(
        state, record, status="queued", retry_count=retry_count, error_message=error_message
    )
    state.jobs.note_retry(record.job_id, error_message=error_message, error_code=error_code)


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
    _report_state(
        state,
        record,
        status=status,
        error_message=error_message,
        failed_at=utcnow(),
        retry_count=retry_count,
    )
    return state.jobs.fail(
        record.job_id,
        status=status,
        error_message=error_message,
        error_code=error_code,
        retry_count=retry_count,
    )
