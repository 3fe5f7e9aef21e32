"""Signals for the host app (blinker, Flask's convention): react to jobs without patching.

Each is sent in the process where the transition happens (the web process for
``job_accepted``, a work horse for ``job_started`` and most outcomes, a delivery
worker for the webhook signals), with the app as sender::

    from flask_pdfqueue import signals

    @signals.job_completed.connect_via(app)
    def on_completed(sender, job, **extra):
        audit.log("pdf ready", job.job_id, job.pdf_url)

Receivers run inside the transition's caller: keep them quick, and let them not
raise (an exception is logged and swallowed, never the reason a job fails).

========================  =====================================================
signal                    keyword arguments
========================  =====================================================
``job_accepted``          ``job`` (JobRecord), ``deduplicated`` (bool: joined)
``job_started``           ``job`` (JobRecord, as before the start), ``run`` (str)
``job_completed``         ``job`` (JobRecord, as recorded)
``job_failed``            ``job`` (JobRecord, as recorded)
``job_cancelled``         ``job`` (JobRecord, as recorded)
``webhook_delivered``     ``delivery`` (Delivery, as claimed), ``status`` (int)
``webhook_given_up``      ``delivery`` (Delivery, as claimed), ``error`` (str)
========================  =====================================================
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import NamedSignal, Namespace
from flask import current_app, has_app_context

__all__ = [
    "job_accepted",
    "job_cancelled",
    "job_completed",
    "job_failed",
    "job_started",
    "webhook_delivered",
    "webhook_given_up",
]

log = logging.getLogger(__name__)

_signals = Namespace()

job_accepted = _signals.signal("pdfqueue-job-accepted")
job_started = _signals.signal("pdfqueue-job-started")
job_completed = _signals.signal("pdfqueue-job-completed")
job_failed = _signals.signal("pdfqueue-job-failed")
job_cancelled = _signals.signal("pdfqueue-job-cancelled")
webhook_delivered = _signals.signal("pdfqueue-webhook-delivered")
webhook_given_up = _signals.signal("pdfqueue-webhook-given-up")


def send(signal: NamedSignal, **kwargs: Any) -> None:
    """Send ``signal`` from the current app; a receiver's exception is logged, not raised."""
    if not signal.receivers:
        return
    sender = current_app._get_current_object() if has_app_context() else None  # type: ignore[attr-defined]
    try:
        signal.send(sender, **kwargs)
    except Exception:
        log.exception("a receiver of %s raised", signal.name)
