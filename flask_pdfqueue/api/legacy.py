"""``POST /reports/generate``: the old synchronous call, kept for clients that wait.

The body is the async one. The job goes to the front (high priority), then the
request waits up to ``PDFQUEUE_SYNC_TIMEOUT`` seconds for it on a blocking Redis
call that the job's terminal transition wakes (no polling). Finished in time:
200 with the links, or the PDF itself for ``Accept: application/pdf``; failed in
time: the error envelope with a status that fits, and the job id; still running:
202 with the async answer, and the job goes on (its webhook still fires).
"""

from __future__ import annotations

import contextlib
import time

from flask import Response, request
from redis.exceptions import RedisError

from ..records.sql import JobRecord
from ..state import current_pdfqueue
from .envelope import RETRY_AFTER_SECONDS, APIError
from .jobs import download
from .models import parse_submit
from .responses import LegacyCompleted, respond
from .submit import accepted_answer, json_body, submit_one

#: HTTP status for a job that failed within the wait, by error code (else 503).
FAILURE_STATUS = {"report_not_found": 404, "template_error": 422, "cancelled": 409}


def generate_and_wait() -> Response:
    state = current_pdfqueue()
    deadline = time.monotonic() + state.settings.sync_timeout
    accepted = submit_one(parse_submit(json_body()), priority="high")
    job_id = accepted.record.job_id
    with contextlib.suppress(RedisError):  # the job goes on; the answer says where to follow
        state.waiter.wait(job_id, deadline - time.monotonic())
    record = state.jobs.get(job_id)
    if record is None or not record.is_terminal:
        answer = accepted_answer(state, accepted)
        return respond(answer, 202, {"Location": answer.status_url})
    if record.status == "completed":
        if request.accept_mimetypes.best_match(["application/json", "application/pdf"]) == (
            "application/pdf"
        ):
            return download(job_id)
        return respond(
            LegacyCompleted(
                job_id=job_id,
                status="completed",
                google_drive_link=record.google_drive_link,
                pdf_url=record.pdf_url,
            )
        )
    raise _failure(record)


def _failure(record: JobRecord) -> APIError:
    code = record.error_code or "internal_error"
    status = FAILURE_STATUS.get(code, 503)
    return APIError(
        status,
        code,
        record.error_message or f"The job {record.status}.",
        headers={"Retry-After": RETRY_AFTER_SECONDS} if status == 503 else None,
        job_id=record.job_id,
    )
