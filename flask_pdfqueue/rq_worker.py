"""The RQ worker class: RQ's forking worker, plus an outcome for jobs whose horse died.

When a work horse dies (OOM killer, ``kill -9``, the parent's hard timeout, RQ's
stop command), the job function never gets to record anything. The parent then
records it: ``worker_lost`` as the job's failure on the last attempt (announced
by the failure webhook), or as the reason of the retry RQ is about to make.

Not covered here: a worker *parent* killed mid-job. RQ notices the abandoned job
later (its registry cleanup) and retries it if retries are left; with none left,
the job stays ``processing`` in SQL until a reconciler (not built yet) settles it.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Worker
from rq.job import Job
from rq.queue import Queue

from .attempts import record_lost
from .extension import current_pdfqueue

log = logging.getLogger(__name__)


class PDFWorker(Worker):
    """Runs inside the app context of ``flask pdfqueue worker`` (inherited by work horses)."""

    def handle_job_failure(
        self,
        job: Job,
        queue: Queue,
        started_job_registry: Any = None,
        exc_string: str = "",
        execution: Any = None,
    ) -> None:
        # Decided before RQ moves the job on: a stopped job is never retried.
        final = not job.should_retry or self._stopped_job_id == job.id
        super().handle_job_failure(
            job,
            queue,
            started_job_registry=started_job_registry,
            exc_string=exc_string,
            execution=execution,
        )
        if self.is_horse:
            return  # the job function recorded its own failure
        try:
            record_lost(current_pdfqueue(), job, exc_string, final=final)
        except Exception:  # the worker must live on to run the next job
            log.exception("job %s: could not record the death of its work horse", job.id)
