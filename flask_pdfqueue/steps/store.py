"""Store: put the PDF where downloads and links will find it."""

from __future__ import annotations

import logging

from ..errors import StorageError
from ..extension import PDFQueueState
from ..records.sql import JobRecord
from ..storage import ReservingStorage, StoredPDF

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
