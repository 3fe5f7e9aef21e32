"""What a ``PDFQUEUE_TEMPLATE_MAP`` entry says about a product: a report pack by name
(``certificate``), or a template of the default pack (``big5.html``), either one
optionally followed by a PDF variant (``certificate pdf/a-3b``).

Kept apart from :mod:`.rendering` so that the settings can check an entry without
importing the renderer or loading a pack.
"""

from __future__ import annotations

from dataclasses import dataclass

from .pack import PACK_NAME


@dataclass(frozen=True)
class TemplateChoice:
    """How one product is rendered: a pack or a template, and a PDF variant of its own."""

    pack: str | None = None
    template: str | None = None
    pdf_variant: str | None = None


def parse_template_choice(text: str) -> TemplateChoice:
    """A template map value: ``pack``, ``name.html``, either with a PDF variant after a
    space, for a product whose PDFs must be PDF/A (or another variant) whatever
    ``PDFQUEUE_PDF_VARIANT`` says. A file name has a dot; a pack's name has none."""
    parts = text.split()
    if len(parts) not in (1, 2):
        raise ValueError(
            f"{text!r} is not 'pack', 'template.html', or either followed by a PDF variant"
        )
    variant = parts[1] if len(parts) == 2 else None
    if "." in parts[0]:
        return TemplateChoice(template=parts[0], pdf_variant=variant)
    if not PACK_NAME.fullmatch(parts[0]):
        raise ValueError(f"{parts[0]!r} is neither a template file name nor a report pack name")
    return TemplateChoice(pack=parts[0], pdf_variant=variant)
