"""What WeasyPrint warns about while rendering (an unknown CSS property, a font it could
not load), collected per render and bounded: a job keeps them for its status, the
render CLI prints them."""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: How many distinct warnings a render keeps, and how long each may be.
MAX_RENDER_WARNINGS = 20
MAX_WARNING_CHARS = 300


_FILE_URL = re.compile(r"file://[^\s'\"]+")


def _without_paths(message: str) -> str:
    """A warning as a job shows it: files by their name (their folder is the server's)."""
    return _FILE_URL.sub(lambda found: Path(unquote(urlsplit(found[0]).path)).name, message)


class _WarningCollector(logging.Handler):
    """WeasyPrint's warnings (and errors) logged by this thread, distinct and bounded.

    Only this thread's records are taken, so a render running beside it in another
    thread (the preview endpoint) does not lend it its warnings.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._thread = threading.get_ident()
        self._seen: dict[str, None] = {}
        self._more = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self._thread:
            return
        try:
            text = _without_paths(record.getMessage())
        except Exception:  # a malformed log call must not fail the render
            text = str(record.msg)
        if len(text) > MAX_WARNING_CHARS:
            text = text[: MAX_WARNING_CHARS - 1] + "…"
        if text in self._seen:
            return
        if len(self._seen) < MAX_RENDER_WARNINGS:
            self._seen[text] = None
        else:
            self._more += 1

    @property
    def warnings(self) -> tuple[str, ...]:
        more = (f"… and {self._more} more warnings",) if self._more else ()
        return (*self._seen, *more)


@contextlib.contextmanager
def collected_warnings() -> Iterator[_WarningCollector]:
    collector = _WarningCollector()
    weasyprint_log = logging.getLogger("weasyprint")
    weasyprint_log.addHandler(collector)
    try:
        yield collector
    finally:
        weasyprint_log.removeHandler(collector)
