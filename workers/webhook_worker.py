"""``deliver_webhook_job``: what an RQ worker on the webhook queue runs for one attempt."""

from __future__ import annotations

from flask_pdfqueue import current_pdfqueue
from flask_pdfqueue.delivery.dispatch import attempt_delivery


def deliver_webhook_job(webhook_id: str) -> None:
    """Attempt the delivery of ``webhook_id`` once; the next attempt, if any, is queued."""
    attempt_delivery(current_pdfqueue(), webhook_id)
