"""An example report pack: a course certificate, one page, archived as PDF/A.

Add it by configuration alone::

    PDFQUEUE_REPORT_PACKS="certificate=examples/packs/certificate"
    PDFQUEUE_TEMPLATE_MAP="courseCertificate=certificate"

Its report documents live in the same collection as any other report, matched by
``code`` and ``product_id``; they hold ``participant.name``, ``course``,
``completed_on`` (ISO date) and ``hours``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

TEMPLATE = "certificate.html"
#: Certificates are kept for years: PDF/A unless the template map says otherwise.
PDF_VARIANT = "pdf/a-3b"


def build_context(document: Mapping[str, Any]) -> dict[str, Any]:
    """A certificate document -> the template's context; a missing field is a KeyError."""
    completed = date.fromisoformat(str(document["completed_on"])[:10])
    hours = int(document["hours"])
    if hours <= 0:
        raise ValueError(f"hours must be positive, not {hours}")
    return {
        "code": document["code"],
        "name": document["participant"]["name"],
        "course": document["course"],
        "completed_on": completed.strftime("%d %B %Y"),
        "hours": hours,
    }


def sample_documents() -> list[dict[str, Any]]:
    """One certificate, so ``flask pdfqueue seed-demo`` gives the pack something to render."""
    return [
        {
            "code": "CERT-001",
            "product_id": "courseCertificate",
            "participant": {"name": "Rina Wulandari"},
            "course": "Report Writing for Assessors",
            "completed_on": "2025-03-14",
            "hours": 16,
        }
    ]
