"""Reading back what a PDF says about itself (pypdf), for the rendering tests."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from pypdf.generic import StreamObject


def pdfa_identification(pdf: bytes) -> tuple[str, str] | None:
    """The PDF/A part and conformance its XMP metadata claims (``("3", "B")``), if any."""
    reader = PdfReader(io.BytesIO(pdf))
    if "/Metadata" not in reader.root_object:
        return None
    metadata = reader.root_object["/Metadata"].get_object()
    assert isinstance(metadata, StreamObject)
    xmp = metadata.get_data().decode()
    part = re.search(r"pdfaid:part(?:>|=\")(\d)", xmp)
    conformance = re.search(r"pdfaid:conformance(?:>|=\")([A-Za-z])", xmp)
    if part is None or conformance is None:
        return None
    return part[1], conformance[1]
