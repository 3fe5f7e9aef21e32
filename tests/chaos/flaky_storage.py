"""Local storage that fails a fraction of its writes, as a full or failing disk would.

The chaos test points ``PDFQUEUE_STORAGE`` at :func:`make` (a storage backend of
its own, the way a user plugs one in); the failure rate comes from the
``CHAOS_STORAGE_FAILURE_RATE`` environment variable of the worker processes.
"""

from __future__ import annotations

import errno
import os
import random

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.storage import StoredPDF
from flask_pdfqueue.storage.local import LocalStorage


class FlakyStorage(LocalStorage):
    def __init__(self, settings: Settings, failure_rate: float) -> None:
        super().__init__(settings.resolved_storage_dir)
        self.failure_rate = failure_rate

    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF:
        if random.random() < self.failure_rate:
            raise OSError(errno.EIO, "injected write failure")
        return super().save(job_id, pdf, filename)


def make(settings: Settings) -> FlakyStorage:
    return FlakyStorage(settings, float(os.environ.get("CHAOS_STORAGE_FAILURE_RATE", "0.1")))
