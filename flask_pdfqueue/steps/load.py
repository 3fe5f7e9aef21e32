"""Load: the report document the PDF is made from."""

from __future__ import annotations

from typing import Any

from pymongo.errors import PyMongoError

from ..errors import ServiceUnavailable
from ..extension import PDFQueueState
from ..records.sql import JobRecord


def load_report(state: PDFQueueState, record: JobRecord) -> dict[str, Any]:
    """The job's document from MongoDB; ``ReportNotFound`` when there is none."""
    try:
        return state.documents.load(record.code, record.product_id)
    except PyMongoError as exc:
        raise ServiceUnavailable("MongoDB did not answer while loading the report") from exc
