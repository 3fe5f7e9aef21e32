"""``POST /webhooks/<job_id>/replay``: send a finished job's webhook events again."""

from __future__ import annotations

from flask import Response

from ..jobs.delivery.replay import replay
from ..state import current_pdfqueue
from .envelope import APIError
from .responses import ReplayAccepted, respond


def replay_job_webhooks(job_id: str) -> Response:
    """202 with the events owed again (same body, same ``webhook-id``); 404 for an unknown
    job, 409 while it has no outcome to announce or nobody to announce it to."""
    state = current_pdfqueue()
    record = state.jobs.get(job_id)
    if record is None:
        raise APIError(404, "job_not_found", f"No job with id {job_id!r}.")
    if not record.is_terminal:
        raise APIError(
            409, "not_finished", f"The job is {record.status}; its webhook goes out when it ends."
        )
    deliveries = state.deliveries.for_job(job_id)
    if not deliveries:
        raise APIError(409, "no_webhooks", "The job has no callback to send its outcome to.")
    replayed = replay(state, deliveries)
    answer = ReplayAccepted(
        job_id=job_id,
        replayed=[d.webhook_id for d in replayed],
        in_flight=[d.webhook_id for d in deliveries if d.state == "sending"],
    )
    return respond(answer, 202)
