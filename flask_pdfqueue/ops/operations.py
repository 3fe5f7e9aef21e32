"""What operators do to many jobs at once: dead letters, clean-up, re-rendering.

- *Dead letters* are the jobs that failed for good. Requeueing one submits its
  report again as a new job with the same subscribers (a finished job keeps its
  one outcome; the new job has its own).
- *Clean-up* forgets finished jobs older than a cut-off: their SQL rows and their
  locally stored PDFs (files in Drive stay where they are).
- *Regenerating* renders again every report of a product that has a PDF (after a
  template fix), as new low-priority jobs.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime

from ..jobs.submission import Accepted, JobRequest, SubmitRejected, submit, submit_many
from ..records.sql import JobRecord, SubscriberRequest
from ..records.sql.listing import completed_codes
from ..records.sql.retention import purge_finished
from ..state import PDFQueueState

log = logging.getLogger(__name__)


def requeue_failed(state: PDFQueueState, record: JobRecord) -> Accepted:
    """Submit a failed job's report again, for the same subscribers; the new job."""
    if record.status != "failed":
        raise ValueError(f"job {record.job_id} is {record.status}, not failed")
    subscribers = state.jobs.subscribers(record.job_id)
    request = JobRequest(code=record.code, product_id=record.product_id, priority=record.priority)
    if subscribers:
        first = subscribers[0]
        request = dataclasses.replace(
            request,
            callback=first.callback_url,
            failure_callback=first.failure_callback_url,
            metadata=first.metadata,
        )
    accepted = submit(state, request)
    for other in subscribers[1:]:
        joining = SubscriberRequest(other.callback_url, other.failure_callback_url, other.metadata)
        state.jobs.join(accepted.record.job_id, joining)
    log.info("failed job %s submitted again as %s", record.job_id, accepted.record.job_id)
    return accepted


@dataclass(frozen=True)
class Cleaned:
    jobs: int
    files: int


def clean_up(
    state: PDFQueueState, *, finished_before: datetime, statuses: tuple[str, ...]
) -> Cleaned:
    """Forget finished jobs that ended before the cut-off, and their local PDFs."""
    gone = purge_finished(state.jobs.engine, finished_before=finished_before, statuses=statuses)
    files = 0
    for _, key in gone:
        path = state.storage.local_path(key) if key else None
        if path is not None:
            path.unlink(missing_ok=True)
            files += 1
    state.idempotency.forget_expired()
    state.webhook_claims.forget_expired()
    return Cleaned(jobs=len(gone), files=files)


def reports_to_regenerate(
    state: PDFQueueState,
    *,
    product_id: str,
    codes: tuple[str, ...] = (),
    since: datetime | None = None,
) -> list[str]:
    """Codes of the product's reports that have a PDF (completed since ``since``)."""
    return completed_codes(state.jobs.engine, product_id, codes=codes, since=since)


def regenerate(
    state: PDFQueueState, product_id: str, codes: list[str]
) -> list[Accepted | SubmitRejected]:
    """Submit each report again at low priority (joining one already queued)."""
    return submit_many(
        state, [JobRequest(code=code, product_id=product_id, priority="low") for code in codes]
    )
