"""Which template renders a product, as the settings name it: the default template and
context builder, and a template map entry (``name.html``, optionally with a PDF variant).

Kept apart from :mod:`~flask_pdfqueue.reports.rendering` so that the settings can read and check
these without importing the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TEMPLATE = "psikotes.html"
DEFAULT_CONTEXT_BUILDER = "flask_pdfqueue.reports.packs.psikotes.context:build_psikotes_context"


@dataclass(frozen=True)
class TemplateChoice:
    """How one product is rendered: its template, and a PDF variant of its own if any."""

    template: str
    pdf_variant: str | None = None


def parse_template_choice(text: str) -> TemplateChoice:
    """A template map value: ``name.html``, or ``name.html pdf/a-3b`` for a product
    whose PDFs must be PDF/A (or another variant) whatever ``PDFQUEUE_PDF_VARIANT`` says."""
    parts = text.split()
    if len(parts) not in (1, 2):
        raise ValueError(f"{text!r} is not 'template.html' or 'template.html pdf/a-3b'")
    return TemplateChoice(parts[0], parts[1] if len(parts) == 2 else None)
