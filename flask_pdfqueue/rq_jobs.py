"""What RQ runs and calls back, by the dotted paths it stores with each job: one run of a
job (:func:`generate_pdf_job`), one attempt at a webhook delivery
(:func:`deliver_webhook_job`), and the callbacks that report a run that did not end
well (:func:`on_run_failed`, :func:`on_run_stopped`, :func:`on_horse_killed`).

``generate_pdf_job`` reads like the plan: load the report data, render it, store the
PDF, record the result, notify the callbacks. What a failure means (a retry to come, or
the job's single failure outcome) is :mod:`.attempts`' business: the exception goes to
RQ, whose failure callback settles it. The worker process runs inside the Flask app
context (``flask pdfqueue worker``), and forked work horses inherit it.

They live in the package, so an app that installs the library runs them; the service's
``workers/`` folder keeps the names RQ was given before (``workers.pdf_worker…``), for
jobs an older version queued. Redis keeps these paths for as long as a job waits, so
this module does not move.
"""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import get_current_job
from rq.job import Job

from .errors import Cancelled, JobFailure, WorkerLost
from .jobs.attempts import begin_attempt, classify, death_of, settle_reported_run
from .jobs.delivery.dispatch import attempt_delivery
from .jobs.steps import load, notify, record, render, store
from .jobs.tracing import traced
from .queue.queues import job_of_run
from .state import current_pdfqueue
from .worker.classes import stoppable


def generate_pdf_job(job_id: str | None = None) -> None:
    """Produce the PDF of the job this run belongs to, and announce it (the outcome is in
    SQL, not returned). ``job_id`` is given by runs an older version queued; a run now
    carries none (see :func:`~.queue.queues.job_of_run`)."""
    state = current_pdfqueue()
    attempt = begin_attempt(state, job_id or _job_of(get_current_job()))
    if attempt is None:
        return
    # The job's log lines show its trace id; a cancel's stop command ends the run here
    # (a forking worker kills the horse instead).
    with traced(attempt.job.traceparent), stoppable(attempt.run):
        # An earlier run may have stored the PDF and lost SQL before recording it: then
        # only the recording is left to do.
        rendered = store.stored_earlier(state, attempt.job)
        if rendered is None:
            document = load.load_report(state, attempt.job)
            attempt.reached("rendering")
            rendered = render.render_pdf(state, attempt.job, document)
        if not attempt.reached("storing"):
            return  # cancelled meanwhile: nothing is stored
        stored = store.store_pdf(state, attempt.job, rendered.pdf)
        if not attempt.reached("recording") and attempt.cancelled():
            store.discard_pdf(state, attempt.job, stored)  # cancelled while storing
            return
        owed = record.record_completed(state, attempt.job, stored, rendered)
        notify.announce(state, owed)


def deliver_webhook_job(webhook_id: str) -> None:
    """Attempt the delivery of ``webhook_id`` once; the next attempt, if any, is queued."""
    attempt_delivery(current_pdfqueue(), webhook_id)


def on_run_failed(
    job: Job, connection: Redis, exc_type: type[BaseException] | None, exc: Any, tb: Any
) -> None:
    """RQ's ``on_failure``: the run raised, or RQ found it abandoned by a dead worker."""
    _settle(job, classify(exc, current_pdfqueue().settings.job_timeout))


def on_run_stopped(job: Job, connection: Redis) -> None:
    """RQ's ``on_stopped``: the run was stopped on request (the job is being cancelled)."""
    _settle(job, Cancelled("the job was cancelled"))


def on_horse_killed(job: Job, pid: int | None, status: int | None, rusage: Any) -> None:
    """The worker's ``work_horse_killed_handler``: the run's process died.

    RQ passes ``None`` for the pid and status when the horse was reaped elsewhere
    (killed at a warm shutdown, say): the run is settled all the same.
    """
    _settle(job, WorkerLost(f"the worker running the job died ({death_of(status)})"))


def _settle(job: Job, failure: JobFailure) -> None:
    settle_reported_run(current_pdfqueue(), _job_of(job), job.id, failure)


def _job_of(run: Job | None) -> str:
    if run is None:
        raise RuntimeError("generate_pdf_job runs under an RQ worker, or is given a job id")
    return str(run.args[0]) if run.args else job_of_run(run.id)
