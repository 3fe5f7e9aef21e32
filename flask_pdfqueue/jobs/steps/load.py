"""Load: the report document the PDF is made from."""

from __future__ import annotations

from typing import Any

from ...records.sql import JobRecord
from ...state import PDFQueueState


def load_report(state: PDFQueueState, record: JobRecord) -> dict[str, Any]:
    """The job's document from MongoDB; ``ReportNotFound`` when there is none."""
    return state.documents.load(record.code, record.product_id)
