"""Queued, observable, reliable PDF report generation for Flask, on RQ.

The public surface is what ``__all__`` names here and in the modules it points to
(:mod:`.config`, :mod:`.errors`, :mod:`.signals`, :mod:`.storage`, :mod:`.reports.pack`,
:mod:`.webhooks.signing`); every other module is the extension's own business and may
change in any release.
"""

from __future__ import annotations

from . import signals
from .config.settings import ConfigError, Settings
from .errors import JobFailure
from .extension import PDFQueue
from .jobs.tracing import TraceIdFilter
from .reports.pack import ReportPack
from .state import PDFQueueState, current_pdfqueue
from .version import __version__

__all__ = [
    "ConfigError",
    "JobFailure",
    "PDFQueue",
    "PDFQueueState",
    "ReportPack",
    "Settings",
    "TraceIdFilter",
    "__version__",
    "current_pdfqueue",
    "signals",
]
