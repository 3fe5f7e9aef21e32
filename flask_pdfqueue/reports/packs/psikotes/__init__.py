"""The psikotes pack: the psychological assessment report of ``workflow.psikotes_v2``.

The service's default pack, and the demo's data. Its parts: :mod:`.context` (the
scoring rules), :mod:`.texts` (the interpretation texts), :mod:`.samples` (demo
documents) and ``templates/psikotes.html``.
"""

from __future__ import annotations

from .context import build_psikotes_context as build_context
from .samples import sample_documents

TEMPLATE = "psikotes.html"

__all__ = ["TEMPLATE", "build_context", "sample_documents"]
