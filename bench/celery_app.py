"""P5's baseline: the render job as a plain Celery task (prefork pool, Redis broker).

``celery -A bench.celery_app worker --pool prefork --concurrency W`` with the variables of
``bench.inline.child_env`` and ``BENCH_CELERY_BROKER``. Each pool process warms WeasyPrint
once in ``worker_process_init`` (what Celery users do for heavy imports), then every task
loads the document from the MongoDB server, renders the same HTML to PDF, writes and
fsyncs the file and POSTs a signed ``completed`` webhook, as the product's job does, but
without its records, stages, retries or delivery outbox. Defaults otherwise (prefetch
multiplier 4, early acks), as a Celery user starts; no result backend (nobody reads one).
"""

from __future__ import annotations

import os
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


def _warm(**_: Any) -> None:
    global _report
    _report = InlineReport()


worker_process_init.connect(_warm, weak=False)


def _render_report(job_id: str, code: str, product_id: str, callback: str) -> None:
    report = _report or InlineReport()
    path = report.render_to_file(code, product_id, job_id)
    body, headers = report.webhook(job_id, path)
    answer = _http.request("POST", callback, body=body, headers=headers)
    if answer.status >= 300:
        raise RuntimeError(f"webhook answered {answer.status}")


render_report: Any = app.task(name="bench.render_report")(_render_report)
