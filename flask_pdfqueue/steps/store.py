"""Store: put the PDF where downloads and links will find it."""

from __future__ import annotations

import re

from ..errors import StorageError
from ..extension import PDFQueueState
from ..records.sql import JobRecord
from ..storage import StoredPDF


def pdf_filename(record: JobRecord) -> str:
    """A readable file name for people who find the PDF in a folder or on Drive."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{record.code}-{record.product_id}").strip("._")
    return f"{stem or record.job_id}.pdf"


def store_pdf(state: PDFQueueState, record: JobRecord, pdf: bytes) -> StoredPDF:
    """Save the PDF under the job's id (saving twice leaves one file)."""
    try:
        return state.storage.save(record.job_id, pdf, pdf_filename(record))
    except OSError as exc:
        raise StorageError(f"could not store the PDF: {exc}") from exc
