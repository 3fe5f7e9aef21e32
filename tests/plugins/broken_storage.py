"""A storage backend whose downloads fail unexpectedly (``PDFQUEUE_STORAGE=...:make``)."""

from __future__ import annotations

from pathlib import Path

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.storage import StoredPDF


class BrokenStorage:
    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF:
        return StoredPDF(key=f"{job_id}.pdf")

    def local_path(self, key: str) -> Path | None:
        raise RuntimeError("the storage backend broke in a way nobody foresaw")


def make(settings: Settings) -> BrokenStorage:
    return BrokenStorage()
