"""Notify: announce a finished job to its callback, once per outcome.

The event is owed (``webhook_state`` ``pending``) from the moment the job's
terminal state is recorded, so a run that died between recording and notifying
is made good by the next run of the same job. A run claims the event
(``sending``) before it POSTs, so two runs never send it twice.
"""

from __future__ import annotations

import logging

from ..errors import is_retryable
from ..extension import PDFQueueState
from ..webhooks import failure_payload, success_payload

log = logging.getLogger(__name__)


def announce(state: PDFQueueState, job_id: str) -> None:
    """Deliver the terminal event of ``job_id`` if it is still owed."""
    record = state.jobs.get(job_id)
    if record is None or record.webhook_state != "pending":
        return
    if record.status == "completed":
        url, payload = record.callback_url, success_payload(record)
    else:
        url = record.failure_callback_url
        payload = failure_payload(record, retryable=is_retryable(record.error_code))
    if url is None or not state.jobs.claim_delivery(job_id):
        return
    try:
        result = state.webhooks.deliver(url, f"{job_id}.{record.status}", payload)
    except BaseException:  # e.g. the job's time ran out mid-POST: the event is still owed
        state.jobs.release_delivery(job_id)
        raise
    state.jobs.record_delivery(
        job_id,
        delivered=result.delivered,
        last_status=result.status,
        gave_up=not result.delivered and not result.retryable,
    )
    if result.delivered:
        log.info("job %s: %s webhook delivered (HTTP %s)", job_id, record.status, result.status)
    else:
        log.warning("job %s: %s webhook not delivered: %s", job_id, record.status, result.error)
