"""Where finished PDFs go: one small interface, one module per backend."""

from __future__ import annotations

import importlib
import logging

from ..config.settings import ConfigError, Settings
from .base import (
    DeletingStorage,
    ReadableStorage,
    RecallingStorage,
    ReservingStorage,
    Storage,
    StoredPDF,
)
from .local import LocalStorage

log = logging.getLogger(__name__)


def create_storage(settings: Settings) -> Storage:
    """The backend named by ``PDFQUEUE_STORAGE``: ``local``, ``drive``, or
    ``package.module:factory``, a callable that takes the settings and returns a
    :class:`Storage` (your own backend)."""
    if settings.storage == "drive":
        return _drive_storage(settings)
    if ":" in settings.storage:
        module_name, _, attribute = settings.storage.partition(":")
        factory = getattr(importlib.import_module(module_name), attribute)
        storage: Storage = factory(settings)
        return storage
    if settings.drive_folder_id or settings.drive_credentials:
        log.warning(
            "PDFQUEUE_DRIVE_* keys are set but PDFQUEUE_STORAGE is %s: PDFs go to the local "
            "folder (set PDFQUEUE_STORAGE=drive to upload them to Google Drive)",
            settings.storage,
        )
    return LocalStorage(settings.resolved_storage_dir)


def _drive_storage(settings: Settings) -> Storage:
    try:  # Google's libraries are an extra: imported only when Drive is asked for
        from .drive import DriveStorage
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in _GOOGLE_MODULES:
            raise
        raise ConfigError(
            "PDFQUEUE_STORAGE=drive needs Google's client libraries: "
            "pip install 'flask-pdfqueue[drive]'"
        ) from None
    return DriveStorage(settings)


_GOOGLE_MODULES = ("google", "googleapiclient", "google_auth_httplib2", "httplib2")


__all__ = [
    "DeletingStorage",
    "ReadableStorage",
    "RecallingStorage",
    "ReservingStorage",
    "Storage",
    "StoredPDF",
    "create_storage",
]
