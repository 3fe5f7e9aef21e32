"""PDFs in a local folder: the default, and what ``make run`` uses."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .base import StoredPDF

_SAFE_KEY = re.compile(r"[A-Za-z0-9_-]+\.pdf")


class LocalStorage:
    """One file per job, ``<job_id>.pdf``; written atomically so readers never see half a PDF."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def save(self, job_id: str, pdf: bytes, filename: str) -> StoredPDF:
        key = f"{job_id}.pdf"
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".upload-", suffix=".pdf")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pdf)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.folder / key)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredPDF(key=key)

    def local_path(self, key: str) -> Path | None:
        if not _SAFE_KEY.fullmatch(key):
            return None
        path = self.folder / key
        return path if path.is_file() else None

    def delete(self, key: str) -> None:
        if _SAFE_KEY.fullmatch(key):
            (self.folder / key).unlink(missing_ok=True)

    def ping(self) -> None:
        """Raise ``OSError`` when the folder cannot take a PDF now (a probe in an outage)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write into {self.folder.name}")

    def stored(self, job_id: str, key: str | None) -> bytes | None:
        """The job's PDF, if a run wrote it (files appear whole: they are renamed in)."""
        path = self.local_path(f"{job_id}.pdf")
        return path.read_bytes() if path is not None else None
