"""Local storage that holds each write at a gate (``PDFQUEUE_STORAGE=...:make``).

A test sees the worker arrive (``<folder>/.storing-<job_id>`` appears), does what it
wants to happen mid-store (a cancel), then opens the gate (``<folder>/.gate-open``); the
write then goes on as :class:`LocalStorage` does it.
"""

from __future__ import annotations

import time
from pathlib import Path

from flask_pdfqueue.config.settings import Settings
from flask_pdfqueue.storage import StoredPDF
from flask_pdfqueue.storage.local import LocalStorage

GATE = ".gate-open"
WAIT_SECONDS = 60


class GatedStorage(LocalStorage):
    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / f".storing-{job_id}").touch()
        deadline = time.monotonic() + WAIT_SECONDS
        while not (self.folder / GATE).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return super().save(job_id, pdf, filename)


def make(settings: Settings) -> GatedStorage:
    return GatedStorage(settings.resolved_storage_dir)


def arrived(folder: Path, job_id: str) -> bool:
    return (folder / f".storing-{job_id}").exists()
