"""Exactly one outcome per accepted job, whatever breaks (SPEC §3, §4), on the real stack.

Scenario one submits 300 jobs (some for reports that do not exist, some with a
second subscriber) while work horses are SIGKILLed, the worker parents are
SIGKILLed twice, redis-server is killed and restarted once, storage fails one
write in ten, and the receiver answers 503 for 30 s and then drops connections.
Scenario two flushes Redis in the middle of a run. Then, for every job answered
2xx: one terminal state in SQL and in MongoDB; every subscriber got a correctly
signed delivery, one payload and one ``webhook-id`` across all attempts; at most
one stored PDF. The figures are printed.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from flask_pdfqueue.records.sql import TERMINAL, SubscriberRequest
from flask_pdfqueue.reports.packs.psikotes.samples import sample_documents
from tests.chaos.stack import ChaosStack, at, chaos_stack, every
from tests.conftest import API_KEY
from tests.receiver import WebhookReceiver
from tests.servers import RunningServer
from tests.sql_backends import new_database

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@dataclass
class Submitted:
    job_id: str
    code: str
    exists: bool
    subscribers: list[str] = field(default_factory=list)  # callback path prefixes


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as rec:
        yield rec


def _submit_all(stack: ChaosStack, count: int) -> list[Submitted]:
    """Submit ``count`` jobs: one in ten for a missing report, one in seven joined by a
    second subscriber (a second n8n execution waiting for the same report)."""
    template = sample_documents()[0]
    run = uuid.uuid4().hex[:6]
    codes = [f"CHAOS-{run}-{n:04d}" for n in range(count)]
    stack.state.documents.collection.insert_many(
        [{**template, "code": code} for n, code in enumerate(codes) if _exists(n)]
    )
    client = stack.app.test_client()
    submitted = []
    for n, code in enumerate(codes):
        base = f"/chaos/{run}/{n}"
        response = client.post(
            "/api/reports/generate-async",
            json={
                "code": code,
                "productId": template["product_id"],
                "callback": stack.receiver.url_for(f"{base}/a/pdf-complete"),
                "metadata": {"n": n},
            },
            headers={"X-API-Key": API_KEY},
        )
        if response.status_code != 202:
            continue  # not accepted: nothing was promised
        job = Submitted(response.get_json()["job_id"], code, _exists(n), [f"{base}/a"])
        if n % 7 == 0:
            second = SubscriberRequest(
                stack.receiver.url_for(f"{base}/b/pdf-complete"),
                stack.receiver.url_for(f"{base}/b/pdf-failed"),
                {"n": n, "subscriber": "b"},
            )
            if stack.state.jobs.join(job.job_id, second):
                job.subscribers.append(f"{base}/b")
        submitted.append(job)
    return submitted


def _exists(n: int) -> bool:
    return n % 10 != 3


def _wait_until_settled(stack: ChaosStack, jobs: list[Submitted], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        open_jobs = [
            j
            for j in jobs
            if (r := stack.state.jobs.get(j.job_id)) is None
            or not r.is_terminal
            or any(d.is_owed for d in stack.state.deliveries.for_job(j.job_id))
        ]
        if not open_jobs:
            return
        time.sleep(1)
    raise AssertionError(f"{len(open_jobs)} job(s) not settled, e.g. {open_jobs[:3]}")


def _check_outcomes(stack: ChaosStack, jobs: list[Submitted]) -> dict[str, int]:
    """Every promise kept, once; returns the figures."""
    verifier = Webhook(stack.secret)
    figures: Counter[str] = Counter()
    for job in jobs:
        record = stack.state.jobs.get(job.job_id)
        assert record is not None and record.status in TERMINAL, job
        figures[record.status] += 1
        if job.exists:
            document = stack.state.documents.collection.find_one({"code": job.code})
            assert document is not None
            generation = document["pdf_generation"]
            assert (generation["job_id"], generation["status"]) == (job.job_id, record.status)
        else:
            # Failed at once when it ran (a kill may have cost it an earlier attempt).
            assert (record.status, record.error_code) == ("failed", "report_not_found")
        deliveries = stack.state.deliveries.for_job(job.job_id)
        assert len(deliveries) == len(job.subscribers), job
        for prefix, delivery in zip(job.subscribers, deliveries, strict=True):
            assert delivery.state == "delivered", (job, delivery)
            assert delivery.event == record.status
            got = [r for r in stack.receiver.requests() if r.route.rsplit("/", 1)[0] == prefix]
            assert got, (job, prefix)
            assert {r.headers["webhook-id"] for r in got} == {delivery.webhook_id}
            assert len({r.body for r in got}) == 1
            payload = verifier.verify(got[0].body, got[0].headers)
            assert (payload["job_id"], payload["status"]) == (job.job_id, record.status)
            suffix = "pdf-complete" if record.status == "completed" else "pdf-failed"
            assert all(r.route == f"{prefix}/{suffix}" for r in got)
            accepted_by_receiver = [r for r in stack.receiver.answered() if r in got]
            assert accepted_by_receiver, (job, prefix)
            figures["deliveries"] += 1
            figures["delivery attempts"] += len(got)
            # Delivered more than once (an answer lost to a kill): the same webhook-id,
            # which the receiver drops; none is a second, different event.
            figures["redelivered (same webhook-id)"] += len(accepted_by_receiver) - 1
            figures["duplicates"] += len({r.body for r in got}) - 1
    stored = [p.name for p in (stack.home / "pdfs").glob("*.pdf") if not p.name.startswith(".")]
    assert len(stored) == len(set(stored))
    accepted = {j.job_id for j in jobs}
    assert {name.removesuffix(".pdf") for name in stored} <= accepted
    assert figures["completed"] <= len(stored)
    figures["jobs"] = len(jobs)
    figures["lost"] = len(jobs) - sum(figures[s] for s in TERMINAL)
    return dict(figures)


def test_kills_restarts_and_a_failing_receiver_lose_nothing(
    tmp_path: Path, mongo_server: RunningServer, receiver: WebhookReceiver
) -> None:
    sql_url = f"sqlite:///{tmp_path / 'jobs.db'}"
    with chaos_stack(tmp_path, mongo_server.url, sql_url, receiver) as stack:
        rng = random.Random(20261130)
        stack.wait_for_workers()
        jobs = _submit_all(stack, 300)
        assert len(jobs) == 300
        start = time.monotonic()
        receiver.outage = 503
        every(1.5, start + 45, lambda: stack.kill_a_horse(rng))
        at(10, stack.kill_render_parents)
        at(18, stack.restart_redis)
        at(26, stack.kill_render_parents)
        at(30, lambda: setattr(receiver, "outage", "drop"))
        at(42, lambda: setattr(receiver, "outage", None))

        _wait_until_settled(stack, jobs, timeout=300)
        figures = _check_outcomes(stack, jobs)
        figures.update(
            {
                "horses killed": stack.horses_killed,
                "worker parents killed": stack.parents_killed,
                "redis restarts": stack.redis_restarts,
                "worker restarts": sum(w.restarts for w in stack.workers),
                "seconds": round(time.monotonic() - start),
            }
        )
        print("\nchaos figures:", json.dumps(figures, sort_keys=True))
        assert (figures["lost"], figures["duplicates"]) == (0, 0)
        assert stack.parents_killed == 4 and stack.redis_restarts == 1
        assert figures["horses killed"] > 0


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_flushed_redis_mid_run_loses_nothing(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    mongo_server: RunningServer,
    receiver: WebhookReceiver,
    backend: str,
) -> None:
    sql_url = new_database(request, backend)
    with chaos_stack(
        tmp_path, mongo_server.url, sql_url, receiver, storage_failure_rate=0.0
    ) as stack:
        stack.wait_for_workers()
        jobs = _submit_all(stack, 60)
        time.sleep(2)  # some running, most still queued, retries scheduled
        assert stack.state.redis.flushall()
        _wait_until_settled(stack, jobs, timeout=180)
        figures = _check_outcomes(stack, jobs)
        print(f"\nflush figures ({backend}):", json.dumps(figures, sort_keys=True))
        assert (figures["lost"], figures["duplicates"]) == (0, 0)
