"""The first attempt at a job's webhooks, made by the render job process that finished it.

A delivery job per webhook cost the delivery worker about 8 ms of CPU per report (RQ's
loop around the job, the queueing, the process switch: bench/README.md, "Where the time
goes"), on the cores the renders share. The warm job process holds what an attempt needs
already, so a thread of its own makes each first attempt while the next report renders:
a render never waits on a receiver.

What the thread does not take (a slow receiver keeps it busy, or the process is closing)
goes to the delivery worker's queue as before, and so does every retry. The claim in SQL
keeps an attempt single whoever makes it; a webhook the process takes with it when it
dies (attempted or not) is still owed in SQL, and the reconciler queues it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable

from flask import Flask

from ...records.sql import Delivery
from ...state import PDFQueueState
from .dispatch import attempt_delivery, dispatch

log = logging.getLogger(__name__)

#: Webhooks that may wait for the thread; more go to the delivery worker at once.
BACKLOG = 4
#: How long a closing job process waits for the attempt under way (a receiver that
#: takes longer gets it again, after the claim runs out: the same webhook id).
CLOSE_SECONDS = 10.0


class Courier:
    """Attempts handed-over deliveries on a thread, started on first use."""

    def __init__(
        self,
        state: PDFQueueState,
        app: Flask,
        *,
        attempt: Callable[[PDFQueueState, str], object] = attempt_delivery,
    ) -> None:
        self.state = state
        self.app = app
        self._attempt = attempt
        self._waiting: deque[Delivery] = deque()
        self._busy = False
        self._closed = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def hand_over(self, deliveries: Iterable[Delivery]) -> None:
        """Attempt ``deliveries`` on the thread; what it cannot take now is queued for the
        delivery worker. Returns at once."""
        overflow = []
        with self._changed:
            for delivery in deliveries:
                if self._closed or len(self._waiting) + self._busy >= BACKLOG:
                    overflow.append(delivery)
                else:
                    self._waiting.append(delivery)
            if self._waiting and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pdfqueue-courier", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()
        if overflow:
            dispatch(self.state, overflow)

    def close(self, within: float) -> None:
        """Take nothing more, queue what waits for the delivery worker, and give the
        attempt under way up to ``within`` seconds to end (cut short with the process,
        its claim runs out and the reconciler queues it)."""
        with self._changed:
            self._closed = True
            left = list(self._waiting)
            self._waiting.clear()
            self._changed.notify_all()
        if left:
            dispatch(self.state, left)
        with self._changed:
            self._changed.wait_for(lambda: not self._busy, timeout=within)

    def _run(self) -> None:
        with self.app.app_context():
            while True:
                with self._changed:
                    self._changed.wait_for(lambda: self._waiting or self._closed)
                    if not self._waiting:
                        return
                    delivery = self._waiting.popleft()
                    self._busy = True
                try:
                    self._attempt(self.state, delivery.webhook_id)
                except Exception:  # (SQL did not answer the claim, say): the worker's turn
                    log.exception("webhook %s: the first attempt failed", delivery.webhook_id)
                    dispatch(self.state, [delivery])
                finally:
                    with self._changed:
                        self._busy = False
                        self._changed.notify_all()


_courier: Courier | None = None


def install(courier: Courier | None) -> None:
    """Make ``courier`` this process's (None: none), for :func:`installed`."""
    global _courier
    _courier = courier


def installed() -> Courier | None:
    """This process's courier: the default render worker's job process has one."""
    return _courier


# A forked process (RQ's scheduler) has none: the thread stayed in the parent.
os.register_at_fork(after_in_child=lambda: install(None))
