"""P3 baseline: a bare Flask + RQ enqueue endpoint (validate, enqueue, 202).

Served by gunicorn with the project's config/gunicorn.py:
``gunicorn --config config/gunicorn.py bench.bare_app:app`` with ``BENCH_REDIS_URL`` set.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, request
from redis import Redis
from rq import Queue, Retry

app = Flask(__name__)
_queue = Queue(
    "bench-bare", connection=Redis.from_url(os.environ.get("BENCH_REDIS_URL", "redis://"))
)


@app.post("/enqueue")
def enqueue() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="body must be a JSON object"), 400
    code, product_id = body.get("code"), body.get("productId")
    if not isinstance(code, str) or not isinstance(product_id, str) or not code or not product_id:
        return jsonify(error="code and productId are required strings"), 400
    job = _queue.enqueue(
        "bench.plain_jobs.noop",
        code,
        product_id,
        job_timeout=300,
        retry=Retry(max=3, interval=[10, 60, 300]),
    )
    return jsonify(job_id=job.id, status="queued"), 202
