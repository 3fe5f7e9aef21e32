"""Render: the document through its template into PDF bytes."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ...records.sql import JobRecord
from ...reports.rendering import RenderedPDF
from ...state import PDFQueueState

log = logging.getLogger(__name__)


def render_pdf(state: PDFQueueState, record: JobRecord, document: Mapping[str, Any]) -> RenderedPDF:
    """The PDF from the template chosen for the job's product (``TemplateError`` if unfit),
    with what WeasyPrint warned about."""
    rendered = state.renderer.render(document, record.product_id)
    if rendered.warnings:
        log.info("job %s rendered with %d warning(s)", record.job_id, len(rendered.warnings))
    return rendered
