"""Store: put the PDF where downloads and links will find it."""

from __future__ import annotations

from ..errors import StorageError
from ..extension import PDFQueueState
from ..records.sql import JobRecord
from ..storage import StoredPDF


def store_pdf(state: PDFQueueState, record: JobRecord, pdf: bytes) -> StoredPDF:
    """Save the PDF under the job's id (saving twice leaves one file)."""
    try:
        return state.storage.save(record.job_id, pdf, record.pdf_filename)
    except OSError as exc:
        raise StorageError(f"could not store the PDF: {exc}") from exc
