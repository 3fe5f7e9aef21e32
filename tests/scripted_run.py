"""A queue in known states, written straight into SQL and Redis, and the figures it must give.

Used by the stats, metrics and monitoring tests: each scripts the same run and
checks its own view of it against :class:`ScriptedRun`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from rq import Worker
from rq.utils import utcformat
from sqlalchemy import insert

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.queue.rq_state import BEAT_KEY, WORKER_SILENCE, queue_name
from flask_pdfqueue.records.sql.delivery_rows import pdf_webhook_deliveries
from flask_pdfqueue.records.sql.job_rows import pdf_job_results
from flask_pdfqueue.records.sql.subscribers import pdf_job_subscribers
from flask_pdfqueue.timestamps import utcnow


class Job(NamedTuple):
    priority: str
    status: str
    #: Seconds before now the job reached its outcome (None: it has none yet).
    ended_ago: float | None = None
    #: Seconds from its first start to its outcome (None: never started).
    seconds: float | None = None
    #: In its RQ list now.
    in_redis: bool = False
    #: The state of its webhook delivery, if it has one.
    delivery: str | None = None


JOBS = (
    Job("high", "queued", in_redis=True),
    Job("high", "completed", ended_ago=600, seconds=4, delivery="delivered"),
    Job("normal", "queued", in_redis=True),
    Job("normal", "queued", in_redis=True),
    Job("normal", "queued"),  # a retry waiting for its delay: queued in SQL, not in the list
    Job("normal", "processing"),
    Job("normal", "completed", ended_ago=300, seconds=12, delivery="delivered"),
    Job("normal", "completed", ended_ago=900, seconds=45, delivery="pending"),
    Job("normal", "completed", ended_ago=1200, seconds=400),
    Job("normal", "failed", ended_ago=900, seconds=8, delivery="failed"),
    Job("normal", "cancelled", ended_ago=180),  # cancelled while queued: never started
    Job("low", "completed", ended_ago=7200, seconds=90),  # before the last hour
    Job("low", "failed", ended_ago=10800, seconds=30),
)
WINDOW = timedelta(hours=1)
#: Workers registered with RQ: (name, role, state, heartbeat seconds ago).
WORKERS = (
    ("render-busy", "render", "busy", 1),
    ("render-idle", "render", "idle", 2),
    ("delivery-idle", "delivery", "idle", 3),
    ("render-dead", "render", "busy", 300),  # killed: its registration lingers
)


@dataclass(frozen=True)
class ScriptedRun:
    """What the scripted queue holds, as every view of it must tell."""

    now: datetime
    current: dict[str, int]
    by_queue: dict[str, dict[str, int]]
    waiting: dict[str, int]
    reached: dict[str, int]
    finished_in_window: dict[str, int]
    window_seconds: list[float]
    completed_seconds: list[float]
    deliveries: dict[str, int]
    workers: dict[tuple[str, str], int]


def script_run(state: PDFQueueState) -> ScriptedRun:
    """Write :data:`JOBS` and :data:`WORKERS` into the state's SQL and Redis."""
    now = utcnow()
    with state.jobs.engine.begin() as conn:
        for number, job in enumerate(JOBS):
            job_id = f"scripted-{number:02d}"
            ended = None if job.ended_ago is None else now - timedelta(seconds=job.ended_ago)
            started = None
            if job.status == "processing":
                started = now - timedelta(seconds=30)
            elif ended is not None and job.seconds is not None:
                started = ended - timedelta(seconds=job.seconds)
            conn.execute(
                insert(pdf_job_results).values(
                    job_id=job_id,
                    code=f"CODE-{number}",
                    product_id="minatBakatUmum",
                    status=job.status,
                    stage="done" if ended else "queued",
                    priority=job.priority,
                    created_at=(started or ended or now) - timedelta(seconds=5),
                    started_at=started,
                    completed_at=ended,
                    updated_at=ended or now,
                    retry_count=0,
                    rq_job_id=job_id,
                    enqueued_at=now - timedelta(seconds=60),
                )
            )
            if job.delivery is not None:
                inserted = conn.execute(
                    insert(pdf_job_subscribers).values(
                        job_id=job_id, callback_url="http://127.0.0.1:9/hook", created_at=now
                    )
                ).inserted_primary_key
                assert inserted is not None
                subscriber = inserted[0]
                conn.execute(
                    insert(pdf_webhook_deliveries).values(
                        webhook_id=f"msg_{job_id}",
                        job_id=job_id,
                        subscriber_id=subscriber,
                        event=job.status,
                        url="http://127.0.0.1:9/hook",
                        payload=json.dumps({"job_id": job_id}),
                        state=job.delivery,
                        attempts=1,
                        round_attempts=1,
                        created_at=now,
                        updated_at=now,
                    )
                )
    for number, job in enumerate(JOBS):
        if job.in_redis:
            state.queue.enqueue(f"scripted-{number:02d}", job.priority)
    for name, role, worker_state, ago in WORKERS:
        queues = state.queue.ordered if role == "render" else [state.queue.webhooks]
        worker = Worker(queues, connection=state.redis, name=name)
        worker.register_birth()  # type: ignore[no-untyped-call]
        worker.set_state(worker_state)
        beat = now - timedelta(seconds=ago)
        state.redis.hset(worker.key, "last_heartbeat", utcformat(beat))
        if ago < WORKER_SILENCE.total_seconds():  # a live worker's beat, by Redis's clock
            left = WORKER_SILENCE - timedelta(seconds=ago)
            state.redis.set(BEAT_KEY.format(worker=name), 1, px=int(left.total_seconds() * 1000))

    by_queue: dict[str, dict[str, int]] = {}
    for job in JOBS:
        counts = by_queue.setdefault(queue_name(job.priority), Counter())
        counts[job.status] += 1
    in_window = [
        j for j in JOBS if j.ended_ago is not None and j.ended_ago < WINDOW.total_seconds()
    ]
    live = Counter((state_, role) for _, role, state_, ago in WORKERS if ago < 70)
    return ScriptedRun(
        now=now,
        current=dict(Counter(j.status for j in JOBS)),
        by_queue=by_queue,
        waiting={
            queue_name(p): sum(1 for j in JOBS if j.in_redis and j.priority == p)
            for p in ("high", "normal", "low")
        },
        reached={
            "queued": len(JOBS),
            "processing": sum(1 for j in JOBS if j.status == "processing" or j.seconds is not None),
            **{
                s: sum(1 for j in JOBS if j.status == s)
                for s in ("completed", "failed", "cancelled")
            },
        },
        finished_in_window={
            s: sum(1 for j in in_window if j.status == s)
            for s in ("completed", "failed", "cancelled")
        },
        window_seconds=sorted(
            j.seconds for j in in_window if j.status == "completed" and j.seconds is not None
        ),
        completed_seconds=sorted(
            j.seconds for j in JOBS if j.status == "completed" and j.seconds is not None
        ),
        deliveries={
            s: sum(1 for j in JOBS if j.delivery == s)
            for s in ("pending", "sending", "delivered", "failed")
        },
        workers={(s, r): live[(s, r)] for s in ("busy", "idle") for r in ("render", "delivery")},
    )
