"""Record: the job's state in SQL (``pdf_job_results``) and in the report document.

SQL is written first: each of its status changes is conditional, so the run whose
change wins is the one that mirrors it into MongoDB. The terminal change owes the
job's webhook events in the same transaction and marks the mirror pending; the
mirror is best effort (the outcome must not be lost because MongoDB is away), and
the reconciler writes it again while it stays pending. A request waiting for the
job (the legacy synchronous endpoint) is woken.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import pymongo
from pymongo.errors import PyMongoError
from sqlalchemy.exc import InterfaceError, OperationalError

from ... import signals
from ...queue.completion import announce_finished
from ...records.sql import Delivery, JobRecord
from ...reports.rendering import RenderedPDF
from ...state import PDFQueueState
from ...storage import StoredPDF
from ...timestamps import utcnow
from ...webhooks.events import InlinePDF

log = logging.getLogger(__name__)

#: How long a run whose PDF is stored waits for SQL to take its outcome.
TRANSITION_PATIENCE = 60.0


def note_in_report(
    state: PDFQueueState, record: JobRecord, *, within: float | None = None, **fields: Any
) -> bool:
    """Write ``pdf_generation`` unless a newer job owns it; False when MongoDB failed.

    :param within: Give up after this many seconds (the submit path cannot wait long).
    """
    try:
        with pymongo.timeout(within) if within is not None else contextlib.nullcontext():
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
        return False
    return True


def record_started(state: PDFQueueState, record: JobRecord, run: str) -> bool:
    """``processing`` in both places; False when ``run`` may not start (finished job, or a
    run that is no longer the job's current one)."""
    if not state.jobs.start_attempt(record.job_id, run):
        return False
    note_in_report(state, record, status="processing", retry_count=record.retry_count)
    signals.send(signals.job_started, job=record, run=run)
    return True


def record_stage(state: PDFQueueState, record: JobRecord, run: str, stage: str) -> bool:
    """False when the run may not go on (the job was cancelled, or has another run)."""
    return state.jobs.set_stage(record.job_id, run, stage)


def record_completed(
    state: PDFQueueState, record: JobRecord, stored: StoredPDF, rendered: RenderedPDF
) -> list[Delivery] | None:
    """``completed``, with the renderer's warnings and its deliveries owed (the PDF itself
    for subscribers that asked for it inline); None when another run finished first.

    The PDF is stored by now: SQL not answering at this point is waited for (up to
    :data:`TRANSITION_PATIENCE` seconds), so a short SQL outage costs no second render.
    """
    pdf = InlinePDF(rendered.pdf, state.settings.inline_pdf_max_bytes)
    pause = 0.5
    deadline = time.monotonic() + TRANSITION_PATIENCE
    while True:
        try:
            owed = state.jobs.complete(
                record.job_id,
                pdf_url=state.download_url(record.job_id),
                google_drive_link=stored.google_drive_link,
                storage_key=stored.key,
                render_warnings=rendered.warnings,
                pdf=pdf,
            )
            break
        except (OperationalError, InterfaceError) as exc:
            # A commit whose answer was lost leaves the job completed: the next try
            # then finds it finished (None), and the reconciler queues its deliveries.
            if time.monotonic() + pause > deadline:
                raise
            log.warning(
                "job %s: SQL did not take the outcome (%s); trying again in %.1f s",
                record.job_id,
                type(exc).__name__,
                pause,
            )
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
    if owed is not None:
        _finished(state, record.job_id)
    return owed


def record_failed(
    state: PDFQueueState, job_id: str, *, status: str, error_message: str, error_code: str
) -> list[Delivery] | None:
    """``failed`` (or ``cancelled``), with its deliveries owed; None when already finished."""
    owed = state.jobs.fail(
        job_id, status=status, error_message=error_message, error_code=error_code
    )
    if owed is not None:
        _finished(state, job_id)
    return owed


#: The signal each outcome sends.
OUTCOME_SIGNALS = {
    "completed": signals.job_completed,
    "failed": signals.job_failed,
    "cancelled": signals.job_cancelled,
}


def _finished(state: PDFQueueState, job_id: str) -> None:
    """What follows a won terminal transition: waking waiting requests, the mirror, a log
    line and the host app's signal."""
    announce_finished(state.redis, job_id)
    record = state.jobs.get(job_id)
    if record is None:
        return
    _mirror(state, record)
    log.info(
        "job %s %s (stage done, %d retries%s)",
        job_id,
        record.status,
        record.retry_count,
        f", {record.error_code}" if record.error_code else "",
    )
    signals.send(OUTCOME_SIGNALS[record.status], job=record)


def mirror_outcome(state: PDFQueueState, job_id: str) -> bool:
    """Write the job's terminal state, as SQL has it, into the report document; False when
    MongoDB did not take it."""
    record = state.jobs.get(job_id)
    return record is None or not record.is_terminal or _mirror(state, record)


def _mirror(state: PDFQueueState, record: JobRecord) -> bool:
    if record.status == "completed":
        drive: dict[str, Any] = {}
        if record.google_drive_link:  # stored in Google Drive: the file id too
            drive["google_drive_file_id"] = record.storage_key
        written = note_in_report(
            state,
            record,
            status="completed",
            google_drive_link=record.google_drive_link,
            pdf_url=record.pdf_url,
            completed_at=record.completed_at,
            retry_count=record.retry_count,
            **drive,
        )
    else:
        written = note_in_report(
            state,
            record,
            status=record.status,
            error_message=record.error_message,
            failed_at=record.completed_at,
            retry_count=record.retry_count,
        )
    if written:
        state.jobs.mirrored(record.job_id, record.status)
    return written
