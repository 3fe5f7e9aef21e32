"""P3's durable baseline: what a plain Flask view must do at least to accept a job and
never lose it: validate the body, insert one row into the same SQL database in its own
transaction (SQLAlchemy Core), and enqueue with RQ (``Retry``, ``job_timeout``); 202.

Served by gunicorn with the project's config/gunicorn.py, beside the product's submit
endpoint: ``gunicorn --config config/gunicorn.py bench.durable_app:app`` with
``BENCH_REDIS_URL`` and ``BENCH_SQL_URL`` set.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from flask import Flask, jsonify, request
from redis import Redis
from rq import Queue, Retry
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, func, insert

app = Flask(__name__)
_queue = Queue(
    "bench-durable", connection=Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://"))
)
_engine = create_engine(os.environ.get("BENCH_SQL_URL", "sqlite://"))
_metadata = MetaData()
_jobs = Table(
    "bench_durable_jobs",
    _metadata,
    Column("job_id", String(64), primary_key=True),
    Column("code", String(255), nullable=False),
    Column("product_id", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), server_default=func.now()),
)
_metadata.create_all(_engine)


@app.post("/enqueue")
def enqueue() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="body must be a JSON object"), 400
    code, product_id = body.get("code"), body.get("productId")
    if not isinstance(code, str) or not isinstance(product_id, str) or not code or not product_id:
        return jsonify(error="code and productId are required strings"), 400
    job_id = f"pdf_{uuid.uuid4().hex}"
    with _engine.begin() as connection:
        connection.execute(
            insert(_jobs).values(job_id=job_id, code=code, product_id=product_id, status="queued")
        )
    _queue.enqueue(
        "bench.plain_jobs.noop",
        code,
        product_id,
        job_id=job_id,
        job_timeout=300,
        retry=Retry(max=3, interval=[10, 60, 300]),
    )
    return jsonify(job_id=job_id, status="queued"), 202
