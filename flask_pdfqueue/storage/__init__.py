"""Where finished PDFs go: one small interface, one module per backend."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..config import Settings


@dataclass(frozen=True)
class StoredPDF:
    """What storing a PDF produced: the backend's key, and a shareable link if it has one."""

    key: str
    google_drive_link: str | None = None


class Storage(Protocol):
    """A place for PDFs. ``save`` must be idempotent per ``job_id`` (jobs may run twice)."""

    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF: ...

    def local_path(self, key: str) -> Path | None:
        """A file to send for downloads, or None when the backend serves links instead."""
        ...


def create_storage(settings: Settings) -> Storage:
    """The backend named by ``PDFQUEUE_STORAGE``: ``local``, or ``package.module:factory``,
    a callable that takes the settings and returns a :class:`Storage` (your own backend)."""
    if ":" in settings.storage:
        module_name, _, attribute = settings.storage.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        storage: Storage = factory(settings)
        return storage
    from .local import LocalStorage

    return LocalStorage(settings.resolved_storage_dir)


__all__ = ["Storage", "StoredPDF", "create_storage"]
