"""Queued, observable, reliable PDF report generation for Flask, on RQ."""

from __future__ import annotations

from .config import ConfigError, Settings
from .errors import JobFailure
from .extension import PDFQueue
from .state import PDFQueueState, current_pdfqueue
from .version import __version__

__all__ = [
    "ConfigError",
    "JobFailure",
    "PDFQueue",
    "PDFQueueState",
    "Settings",
    "__version__",
    "current_pdfqueue",
]
