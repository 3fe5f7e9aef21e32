"""``workers.webhook_worker.deliver_webhook_job``: the name RQ was given for a delivery
attempt before the function moved into the package (:mod:`flask_pdfqueue.rq_jobs`), kept
so that attempts an older version queued still run after an upgrade. Not part of the
wheel."""

from __future__ import annotations

from flask_pdfqueue.rq_jobs import deliver_webhook_job

__all__ = ["deliver_webhook_job"]
