"""Store: put the PDF where downloads and links will find it."""

from __future__ import annotations

import logging

from ..errors import StorageError
from ..extension import PDFQueueState
from ..records.sql import JobRecord
from ..storage import StoredPDF

log = logging.getLogger(__name__)


def store_pdf(state: PDFQueueState, record: JobRecord, pdf: bytes) -> StoredPDF:
    """Save the PDF under the job's id (saving twice leaves one file)."""
    try:
        return state.storage.save(record.job_id, pdf, record.pdf_filename)
    except OSError as exc:  # the message goes to n8n: the reason, not the server's paths
        log.error("job %s: could not store the PDF: %s", record.job_id, exc)
        reason = exc.strerror or type(exc).__name__
        raise StorageError(f"could not store the PDF ({reason})") from exc
