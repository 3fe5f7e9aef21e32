"""New jobs' ``queued`` state, written into their report documents after the 202.

SQL holds the job before the submit answers; the report document's ``queued`` is a
mirror that SPEC asks for, not a promise, and a submit that waited for MongoDB spent
a round trip and MongoDB's own work on every request. A thread of the web process
writes the notes instead, every :data:`GATHER_SECONDS`, all that gathered meanwhile
in one round trip. A note lost with its process (or to a MongoDB outage) is what the
submit path lost before on a timeout: the worker writes ``processing`` when it starts.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable

import pymongo
from pymongo.errors import PyMongoError

from .mongo import QueuedNote, ReportDocuments

log = logging.getLogger(__name__)

#: How long the writer waits after a note for others to join it in one round trip.
GATHER_SECONDS = 0.05
#: How long one round trip of notes may take before they are given up.
WRITE_SECONDS = 2.0


class QueuedNotes:
    """Writes :class:`QueuedNote` batches on a thread of its own, started on first use."""

    def __init__(self, documents: ReportDocuments) -> None:
        self.documents = documents
        self._pending: list[QueuedNote] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, notes: Iterable[QueuedNote]) -> None:
        """Hand notes to the writer; returns at once."""
        with self._lock:
            self._pending.extend(notes)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="pdfqueue-queued-notes", daemon=True
                )
                self._thread.start()
                atexit.register(self.close)
        self._wake.set()

    def flush(self) -> int:
        """Write what is pending now; how many documents changed."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with pymongo.timeout(WRITE_SECONDS):
                return self.documents.note_queued(batch)
        except PyMongoError as exc:
            log.warning(
                "could not write queued into %d report document(s): %s (their workers "
                "write processing when they start)",
                len(batch),
                type(exc).__name__,
            )
            return 0

    def close(self) -> None:
        """Write what is pending and stop the thread (at exit, or with the app's state)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(WRITE_SECONDS + 1)
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            if not self._closed:
                time.sleep(GATHER_SECONDS)  # let the next submits join this round trip
            self.flush()
