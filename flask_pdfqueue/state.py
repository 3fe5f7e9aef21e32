"""The per-app state every part of the queue reads: :class:`PDFQueueState`, built once
by :meth:`PDFQueue.init_app <flask_pdfqueue.extension.PDFQueue.init_app>`, and
:func:`current_pdfqueue`, which finds it for the current app.

It sits below everything that reads it (the API, the job flow, the workers) and above
the adapters it holds, so that the extension can wire the HTTP side without an import
cycle.
"""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask, current_app
from redis import Redis

from .config.settings import Settings
from .queue.completion import CompletionWaiter
from .queue.queues import JobQueue
from .records.mongo import ReportDocuments
from .records.queued_notes import QueuedNotes
from .records.sql import DeliveryStore, JobStore
from .records.sql.idempotency import IdempotencyStore
from .records.sql.webhook_claims import WebhookClaims
from .storage import Storage
from .webhooks.sender import WebhookSender

if TYPE_CHECKING:
    from .reports.rendering import ReportRenderer

EXTENSION_KEY = "pdfqueue"


@dataclass(eq=False)  # compared by identity: live states are kept in a WeakSet
class PDFQueueState:
    """Everything one app's PDF queue needs, built once in ``init_app``."""

    settings: Settings
    redis: Redis
    queue: JobQueue
    jobs: JobStore
    deliveries: DeliveryStore
    idempotency: IdempotencyStore
    webhook_claims: WebhookClaims
    documents: ReportDocuments
    storage: Storage
    webhooks: WebhookSender
    url_prefix: str = field(default="/api")

    @cached_property
    def renderer(self) -> ReportRenderer:
        """Built on first use: only workers render, so the web app never imports WeasyPrint."""
        from .reports.pack import load_packs
        from .reports.rendering import ReportRenderer, load_context_builder

        settings = self.settings
        return ReportRenderer(
            packs=load_packs(dict(settings.report_packs)),
            default_pack=settings.default_pack,
            template_map=dict(settings.template_map),
            template_folders=[Path(settings.template_folder)] if settings.template_folder else [],
            default_template=settings.default_template or None,
            context_builder=(
                load_context_builder(settings.context_builder) if settings.context_builder else None
            ),
            pdf_variant=settings.pdf_variant or None,
        )

    @cached_property
    def waiter(self) -> CompletionWaiter:
        """Blocking waits for finished jobs, on a Redis pool of their own (legacy endpoint)."""
        return CompletionWaiter(
            self.settings.redis_url, longest_wait=float(self.settings.sync_timeout)
        )

    @cached_property
    def queued_notes(self) -> QueuedNotes:
        """New jobs' ``queued`` for their report documents, written after the answer."""
        return QueuedNotes(self.documents)

    def job_url(self, job_id: str) -> str:
        """The job's status URL under ``PDFQUEUE_PUBLIC_URL`` (never from a request's Host)."""
        return f"{self.settings.base_url}{self.url_prefix}/jobs/{job_id}"

    def download_url(self, job_id: str) -> str:
        return self.job_url(job_id) + "/download"

    def after_fork_in_child(self) -> None:
        """Drop connections inherited from the parent: a work horse opens its own."""
        self.jobs.engine.dispose(close=False)
        self.documents = self.documents.reopened()
        self.__dict__.pop("queued_notes", None)  # its thread stayed in the parent

    def close(self) -> None:
        if "waiter" in self.__dict__:
            self.waiter.close()
        if "queued_notes" in self.__dict__:
            self.queued_notes.close()
        self.jobs.engine.dispose()
        self.documents.close()
        self.redis.close()


#: Every live state, so that one fork hook can reset them all (and let dead ones go).
_STATES: weakref.WeakSet[PDFQueueState] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for state in list(_STATES):
        state.after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def install(app: Flask, state: PDFQueueState) -> None:
    """Make ``state`` the app's PDF queue (what :func:`current_pdfqueue` finds)."""
    app.extensions[EXTENSION_KEY] = state
    _STATES.add(state)


def current_pdfqueue() -> PDFQueueState:
    """The state of the current app's PDFQueue (needs an app context)."""
    try:
        state: PDFQueueState = current_app.extensions[EXTENSION_KEY]
    except KeyError:
        raise RuntimeError(
            "PDFQueue is not initialised on this app: call PDFQueue(app) or init_app(app)"
        ) from None
    return state
