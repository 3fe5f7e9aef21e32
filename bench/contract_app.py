"""P3's contract baseline: what SPEC's submit asks of any implementation, in a plain view.

On top of the durable baseline (``bench.durable_app``: validate, one SQL row, an RQ
enqueue), SPEC's ``POST /api/reports/generate-async`` must check the API key, count
the request against a rate limit shared by every process (Flask-Limiter on Redis),
join the report's queued or running job instead of queuing a second one (a
read of the active job, a unique key), keep who waits for the outcome (a subscriber
row beside the job's row, one transaction), write the job's ``queued`` state into the
report document (SPEC: "intermediate states (``queued``, ``processing``) are written
too"), and answer with the job's position and an estimate (the queue lists, the live
workers, an average duration). This view does
each of those in the most direct way, with no error envelope, no logging, no
metrics: the least a Flask app meeting the contract does per request, measured
beside ours so that the table can tell the contract's cost from our code's.

``gunicorn --config config/gunicorn.py bench.contract_app:app`` with ``BENCH_REDIS_URL``,
``BENCH_SQL_URL``, ``BENCH_MONGO_URL`` and ``BENCH_MONGO_DB`` set.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, jsonify, request
from flask_limiter import Limiter
from pymongo import MongoClient
from pymongo.collection import Collection
from redis import Redis
from rq import Queue, Retry, Worker
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from bench.stack import API_KEY

PRIORITIES = ("high", "normal", "low")
AVERAGE_KEY = "bench-contract:average-seconds"

app = Flask(__name__)
_redis = Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://"))
_queues = {p: Queue(f"bench-contract-{p}", connection=_redis) for p in PRIORITIES}
_limiter = Limiter(
    lambda: hashlib.sha256(request.headers.get("X-API-Key", "").encode()).hexdigest(),
    app=app,
    storage_uri=os.environ.get("BENCH_REDIS_URL", "redis://"),
    strategy="moving-window",
    default_limits=["100000000/minute"],
    headers_enabled=False,
)
_engine = create_engine(os.environ.get("BENCH_SQL_URL", "sqlite://"))
_reports: Collection[dict[str, Any]] = MongoClient(os.environ.get("BENCH_MONGO_URL", "mongodb://"))[
    os.environ.get("BENCH_MONGO_DB", "workflow")
]["psikotes_v2"]
_metadata = MetaData()
_jobs = Table(
    "bench_contract_jobs",
    _metadata,
    Column("job_id", String(64), primary_key=True),
    Column("code", String(255), nullable=False),
    Column("product_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("dedupe_key", String(64), unique=True),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
_subscribers = Table(
    "bench_contract_subscribers",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(64), nullable=False, index=True),
    Column("callback_url", Text),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
_metadata.create_all(_engine)
_ACTIVE = select(_jobs.c.job_id, _jobs.c.priority).where(_jobs.c.dedupe_key == bindparam("key"))


@app.post("/submit")
def submit() -> Any:
    if not hmac.compare_digest(request.headers.get("X-API-Key", ""), API_KEY):
        return jsonify(error="unauthorized"), 401
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="body must be a JSON object"), 400
    code, product_id = body.get("code"), body.get("productId")
    priority, callback = body.get("priority", "normal"), body.get("callback")
    if not isinstance(code, str) or not isinstance(product_id, str) or not code or not product_id:
        return jsonify(error="code and productId are required strings"), 400
    if priority not in PRIORITIES or not (callback is None or isinstance(callback, str)):
        return jsonify(error="priority or callback is not valid"), 400
    key = hashlib.sha256(f"{code}\0{product_id}".encode()).hexdigest()
    with _engine.connect() as connection:
        active = connection.execute(_ACTIVE, {"key": key}).first()
    if active is not None:
        with _engine.begin() as connection:
            connection.execute(
                insert(_subscribers), {"job_id": active[0], "callback_url": callback}
            )
        return _where(active[0], active[1], 200)
    job_id = f"pdf_{uuid.uuid4().hex}"
    try:
        with _engine.begin() as connection:
            connection.execute(
                insert(_jobs),
                {"job_id": job_id, "code": code, "product_id": product_id,
                 "status": "queued", "priority": priority, "dedupe_key": key},
            )  # fmt: skip
            connection.execute(insert(_subscribers), {"job_id": job_id, "callback_url": callback})
    except IntegrityError:
        return jsonify(error="the report's job changed; try again"), 409
    _queues[priority].enqueue(
        "bench.plain_jobs.noop",
        code,
        product_id,
        job_id=job_id,
        job_timeout=300,
        retry=Retry(max=3, interval=[10, 60, 300]),
    )
    _reports.update_one(
        {"code": code, "product_id": product_id},
        {"$set": {"pdf_generation": {"status": "queued", "job_id": job_id, "retry_count": 0,
                                     "updated_at": datetime.now(UTC)}}},
    )  # fmt: skip
    return _where(job_id, priority, 202)


def _where(job_id: str, priority: str, status: int) -> Any:
    """Position (the lists ahead and the job's index in its own) and estimate (the
    average duration over the live workers), as SPEC's answer carries them."""
    with _redis.pipeline(transaction=False) as pipe:
        for name in PRIORITIES[: PRIORITIES.index(priority)]:
            pipe.llen(_queues[name].key)
        pipe.lpos(_queues[priority].key, job_id, rank=-1)
        pipe.get(AVERAGE_KEY)
        *ahead, index, average = pipe.execute()
    position = sum(ahead) + (index or 0)
    workers = max(1, Worker.count(connection=_redis))
    seconds = (position + 1) * float(average or 10.0) / workers
    estimate = datetime.now(UTC) + timedelta(seconds=seconds)
    return jsonify(
        job_id=job_id,
        status="queued",
        position_in_queue=position,
        estimated_completion=estimate.isoformat(),
    ), status
