"""P5's baselines: render jobs run by Celery (prefork pool, Redis broker).

``celery -A bench.celery_app worker --pool prefork --concurrency W`` with the variables of
``bench.inline.child_env`` and ``BENCH_CELERY_BROKER``; ``BENCH_CELERY_JOB`` says what each
pool process warms up in ``worker_process_init`` (what Celery users do for heavy imports):

- ``product``: the product's own job, :func:`flask_pdfqueue.rq_jobs.generate_pdf_job`, in the
  product's app context with its renderer preloaded, as our worker runs it. Its records,
  stages and outbox are the same; its webhook goes out through the product's delivery
  worker. Only the runner differs: Celery's prefork pool instead of our RQ worker.
- ``inline`` (the default): :class:`bench.inline.InlineReport`, a plain task that loads the
  document, renders the same HTML to PDF, writes and fsyncs the file and POSTs a signed
  ``completed`` webhook itself, without the product's records, stages, retries or outbox.

Defaults otherwise (prefetch multiplier 4, early acks), as a Celery user starts; no result
backend (nobody reads one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import urllib3
from celery import Celery
from celery.signals import worker_process_init

from bench.inline import InlineReport

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/2"))
app.conf.update(
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

_report: InlineReport | None = None
_http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30), retries=False)


def _warm_product() -> None:
    """The product's app context for the life of the pool process, renderer preloaded."""
    from flask_pdfqueue import current_pdfqueue
    from flask_pdfqueue.service import create_worker_app

    create_worker_app().app_context().push()
    current_pdfqueue().renderer.preload()
    ready = Path(os.environ["BENCH_READY_DIR"])
    ready.mkdir(parents=True, exist_ok=True)
    (ready / str(os.getpid())).touch()  # the bench waits for one file per process


def _warm(**_: Any) -> None:
    global _report
    if os.environ.get("BENCH_CELERY_JOB") == "product":
        _warm_product()
    else:
        _report = InlineReport()


worker_process_init.connect(_warm, weak=False)


def _render_report(job_id: str, code: str, product_id: str, callback: str) -> None:
    report = _report or InlineReport()
    path = report.render_to_file(code, product_id, job_id)
    body, headers = report.webhook(job_id, path)
    answer = _http.request("POST", callback, body=body, headers=headers)
    if answer.status >= 300:
        raise RuntimeError(f"webhook answered {answer.status}")


def _product_job(job_id: str) -> None:
    from flask_pdfqueue.rq_jobs import generate_pdf_job

    generate_pdf_job(job_id)


render_report: Any = app.task(name="bench.render_report")(_render_report)
product_job: Any = app.task(name="bench.product_job")(_product_job)
