"""The RQ worker class: RQ's forking worker, plus one outcome for jobs whose horse died.

When a work horse is killed (OOM killer, ``kill -9``, the parent's hard timeout),
the job function never gets to record its failure. RQ still retries it if retries
are left; when none are, this worker records the job ``failed`` with
``worker_lost`` and sends the failure webhook.

Not covered here: a worker *parent* killed mid-job. RQ notices the abandoned job
later (its registry cleanup) and retries it if retries are left; with none left,
the job stays ``processing`` in SQL until a reconciler (not built yet) settles it.
"""

from __future__ import annotations

from typing import Any

from rq import Worker
from rq.job import Job
from rq.queue import Queue

from .attempts import record_lost
from .extension import current_pdfqueue


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
        final = not job.should_retry
        super().handle_job_failure(
            job,
            queue,
            started_job_registry=started_job_registry,
            exc_string=exc_string,
            execution=execution,
        )
        if final:
            record_lost(current_pdfqueue(), job, exc_string)
