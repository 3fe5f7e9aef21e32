"""Queued, observable, reliable PDF report generation for Flask, on RQ."""

from __future__ import annotations

__version__ = "0.1.0"

from .config import ConfigError, Settings
from .errors import JobFailure
from .extension import PDFQueue, PDFQueueState, current_pdfqueue

__all__ = [
    "ConfigError",
    "JobFailure",
    "PDFQueue",
    "PDFQueueState",
    "Settings",
    "__version__",
    "current_pdfqueue",
]
