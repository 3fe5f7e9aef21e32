"""Render: the document through its template into PDF bytes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..extension import PDFQueueState
from ..records.sql import JobRecord


def render_pdf(state: PDFQueueState, record: JobRecord, document: Mapping[str, Any]) -> bytes:
    """PDF bytes from the template chosen for the job's product (``TemplateError`` if unfit)."""
    return state.renderer.render(document, record.product_id)
