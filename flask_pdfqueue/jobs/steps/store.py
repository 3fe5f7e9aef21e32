"""Store: put the PDF where downloads and links will find it."""

from __future__ import annotations

import logging

from ...errors import JobFailure, StorageError
from ...records.sql import JobRecord
from ...reports.rendering import RenderedPDF
from ...state import PDFQueueState
from ...storage import DeletingStorage, RecallingStorage, ReservingStorage, StoredPDF

log = logging.getLogger(__name__)


def store_pdf(state: PDFQueueState, record: JobRecord, pdf: bytes) -> StoredPDF:
    """Save the PDF under the job's id (saving twice leaves one file).

    A backend that names files itself (Google Drive) gets its name reserved once per
    job and kept in SQL first, so a run after a crash writes to the same file.
    """
    storage = state.storage
    try:
        if isinstance(storage, ReservingStorage):
            key = record.storage_key or state.jobs.keep_storage_key(
                record.job_id, storage.reserve_key(record.job_id)
            )
            if key is None:  # the row is gone: nothing can record the outcome anyway
                raise StorageError("the job's record disappeared while storing its PDF")
            return storage.save_as(key, record.job_id, pdf, record.pdf_filename)
        return storage.save(record.job_id, pdf, record.pdf_filename)
    except OSError as exc:  # the message goes to n8n: the reason, not the server's paths
        log.error("job %s: could not store the PDF: %s", record.job_id, exc)
        reason = exc.strerror or type(exc).__name__
        raise StorageError(f"could not store the PDF ({reason})") from exc


def stored_earlier(state: PDFQueueState, record: JobRecord) -> RenderedPDF | None:
    """The PDF an earlier run of the job stored and could not record (SQL went away at
    the end): the run then records it instead of rendering again. None otherwise."""
    storage = state.storage
    if not isinstance(storage, RecallingStorage):
        return None
    try:
        pdf = storage.stored(record.job_id, record.storage_key)
    except OSError as exc:
        log.warning("job %s: could not look for an earlier PDF: %s", record.job_id, exc)
        return None
    if pdf is None:
        return None
    log.info("job %s: an earlier run stored its PDF; recording it", record.job_id)
    return RenderedPDF(pdf)


def discard_pdf(state: PDFQueueState, record: JobRecord, stored: StoredPDF) -> None:
    """Take back the PDF of a job cancelled while it was being stored: a cancelled job
    leaves no file, and no link to one. Best effort: the job is cancelled either way."""
    storage = state.storage
    if not isinstance(storage, DeletingStorage):
        log.warning("job %s cancelled while storing; this storage keeps its PDF", record.job_id)
        return
    try:
        storage.delete(stored.key)
    except (OSError, JobFailure) as exc:
        log.error("job %s cancelled while storing; its PDF stays: %s", record.job_id, exc)
    else:
        log.info("job %s cancelled while storing; its PDF was removed", record.job_id)
