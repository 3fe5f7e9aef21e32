"""What a storage backend is: the result of storing a PDF, and the interfaces a backend
implements (saving always; reading back, reserving a name, recalling a job's PDF and
deleting it when it can)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StoredPDF:
    """What storing a PDF produced: the backend's key, and a shareable link if it has one."""

    key: str
    google_drive_link: str | None = None


class Storage(Protocol):
    """A place for PDFs. ``save`` must be idempotent per ``job_id`` (jobs may run twice)."""

    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF: ...

    def local_path(self, key: str) -> Path | None:
        """A file to send for downloads, or None when the file is not on this machine."""
        ...


@runtime_checkable
class ReadableStorage(Storage, Protocol):
    """A backend whose files the service itself can read back (Google Drive, with its own
    credentials): the download endpoint then serves the PDF, whatever the file shares."""

    def read(self, key: str) -> bytes:
        """The file's bytes; a ``JobFailure`` (``storage_rejected``: it is gone) when not."""
        ...


@runtime_checkable
class ReservingStorage(Storage, Protocol):
    """A backend that names a file before writing it, so a job that runs twice writes one.

    The store step asks for a key once per job (:meth:`reserve_key`), keeps it with the
    job in SQL, and every run of the job saves under that key (:meth:`save_as`), which
    must succeed when an earlier run already wrote it.
    """

    def reserve_key(self, job_id: str) -> str: ...

    def save_as(self, key: str, job_id: str, pdf: bytes, filename: str) -> StoredPDF: ...


@runtime_checkable
class RecallingStorage(Storage, Protocol):
    """A backend that can hand back the PDF an earlier run of a job stored, so a run after
    one that lost SQL before recording its outcome records it instead of rendering again."""

    def stored(self, job_id: str, key: str | None) -> bytes | None:
        """The job's PDF if an earlier run stored it whole (``key``: the job's kept
        ``storage_key``, if any); None otherwise."""
        ...


@runtime_checkable
class DeletingStorage(Storage, Protocol):
    """A backend that can take a stored PDF back (a job cancelled while it was stored)."""

    def delete(self, key: str) -> None:
        """Remove the file ``key``; a file that is gone already is no error."""
        ...
