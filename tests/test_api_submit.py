"""Submitting: joining a report's running job, Idempotency-Key, batches (real Redis and SQL)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from redis.exceptions import ConnectionError as RedisConnectionError
from rq.job import Job
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.jobs.reconcile import reconcile
from flask_pdfqueue.jobs.steps.record import record_failed
from flask_pdfqueue.jobs.submission import Accepted, JobRequest, submit
from flask_pdfqueue.queue.queues import JOB_FUNCTION, JobQueue
from flask_pdfqueue.records.sql import Subscriber
from flask_pdfqueue.records.sql.idempotency import IdempotencyStore, pdf_idempotency_keys
from flask_pdfqueue.records.sql.subscribers import pdf_job_subscribers, subscribers_of
from flask_pdfqueue.timestamps import utcnow
from tests.conftest import SECOND_API_KEY, make_isolated_app
from tests.factories import make_idle, state_of
from tests.servers import RunningServer

SUBMIT = "/api/reports/generate-async"
BATCH = "/api/reports/generate-batch"


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    """No worker runs anything here: jobs stay queued."""
    app = make_isolated_app(
        {**stack_settings, "PDFQUEUE_BATCH_MAX": "5"}, redis_server, tmp_path, redis_db=5
    )
    yield app
    app.extensions["pdfqueue"].close()


def _subscribers(state: PDFQueueState, job_id: str) -> list[Subscriber]:
    with state.jobs.engine.connect() as conn:
        return subscribers_of(conn, job_id)


def test_a_second_submit_for_a_queued_report_joins_its_job(
    app: Flask, auth: dict[str, str]
) -> None:
    client = app.test_client()
    first = client.post(
        SUBMIT,
        json={"code": "DEMO-001", "productId": "minatBakatUmum", "callback": "http://127.0.0.1/a"},
        headers=auth,
    )
    assert first.status_code == 202
    second = client.post(
        SUBMIT,
        json={
            "code": "DEMO-001",
            "productId": "minatBakatUmum",
            "callback": "http://127.0.0.1/b/pdf-complete",
            "metadata": {"execution": "b"},
        },
        headers=auth,
    )
    assert second.status_code == 200
    joined = second.get_json()
    assert joined["deduplicated"] is True
    assert joined["job_id"] == first.get_json()["job_id"]
    assert joined["status_url"] == second.headers["Location"]
    assert "deduplicated" not in first.get_json()
    state = state_of(app)
    subscribers = _subscribers(state, joined["job_id"])
    assert [(s.callback_url, s.failure_callback_url, s.metadata) for s in subscribers] == [
        ("http://127.0.0.1/a", "http://127.0.0.1/a", None),
        ("http://127.0.0.1/b/pdf-complete", "http://127.0.0.1/b/pdf-failed", {"execution": "b"}),
    ]
    assert state.queue.waiting() == 1  # rendered once
    other = client.post(SUBMIT, json={"code": "DEMO-001", "productId": "other"}, headers=auth)
    assert other.status_code == 202  # another product: another report


def test_twenty_identical_submits_at_once_make_one_job_with_twenty_subscribers(
    app: Flask, auth: dict[str, str]
) -> None:
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(20)

    def post(n: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            SUBMIT,
            json={
                "code": "DEMO-004",
                "productId": "minatBakatUmum",
                "callback": f"http://127.0.0.1/run-{n}/pdf-complete",
                "metadata": {"n": n},
            },
            headers=auth,
        )
        results.append((response.status_code, response.get_json()["job_id"]))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 20
    assert {job_id for _, job_id in results} == {results[0][1]}
    assert sorted(status for status, _ in results) == [200] * 19 + [202]
    state = state_of(app)
    subscribers = _subscribers(state, results[0][1])
    assert sorted((s.metadata or {})["n"] for s in subscribers) == list(range(20))
    assert state.queue.waiting() == 1

    owed = state.jobs.complete(results[0][1], pdf_url="u", google_drive_link=None, storage_key="k")
    assert owed is not None
    assert len(owed) == 20 and len({d.webhook_id for d in owed}) == 20
    assert sorted(d.url for d in owed) == sorted(
        f"http://127.0.0.1/run-{n}/pdf-complete" for n in range(20)
    )


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    app: Flask, auth: dict[str, str]
) -> None:
    client = app.test_client()
    body = {"code": "DEMO-002", "productId": "minatBakatUmum"}
    keyed = {**auth, "Idempotency-Key": "order-77"}
    first = client.post(SUBMIT, json=body, headers=keyed)
    again = client.post(SUBMIT, json=body, headers=keyed)
    assert first.status_code == again.status_code == 202
    assert first.get_json() == again.get_json()
    state = state_of(app)
    assert state.queue.waiting() == 1
    # The first request is recorded (no callback: it hears nothing); the replay adds nothing.
    [recorded] = _subscribers(state, first.get_json()["job_id"])
    assert (recorded.callback_url, recorded.failure_callback_url) == (None, None)
    assert recorded.request_ref is not None

    other = client.post(SUBMIT, json={**body, "priority": "high"}, headers=keyed)
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"

    # Keys belong to the client that used them.
    theirs = client.post(
        SUBMIT,
        json={**body, "code": "DEMO-003"},
        headers={"X-API-Key": SECOND_API_KEY, "Idempotency-Key": "order-77"},
    )
    assert theirs.status_code == 202

    bad = client.post(SUBMIT, json=body, headers={**auth, "Idempotency-Key": "x" * 256})
    assert (bad.status_code, bad.get_json()["error"]["code"]) == (400, "invalid_idempotency_key")


def test_a_refused_request_frees_its_idempotency_key(app: Flask, auth: dict[str, str]) -> None:
    client = app.test_client()
    keyed = {**auth, "Idempotency-Key": "retry-me"}
    refused = client.post(SUBMIT, json={"code": "DEMO-005"}, headers=keyed)
    assert refused.status_code == 400
    accepted = client.post(
        SUBMIT, json={"code": "DEMO-005", "productId": "minatBakatUmum"}, headers=keyed
    )
    assert accepted.status_code == 202


def test_a_batch_answers_each_item_in_order_and_queues_in_one_go(
    app: Flask, auth: dict[str, str]
) -> None:
    client = app.test_client()
    jobs = [
        {"code": "DEMO-001", "productId": "minatBakatUmum", "priority": "low"},
        {"code": "DEMO-002"},
        {"code": "DEMO-003", "productId": "minatBakatUmum", "callback": "http://evil.test/x"},
        {"code": "DEMO-001", "productId": "minatBakatUmum"},
        {"code": "DEMO-006", "productId": "kepribadianDasar", "priority": "high"},
    ]
    response = client.post(BATCH, json={"jobs": jobs}, headers=auth)
    assert response.status_code == 202
    results = response.get_json()["jobs"]
    assert len(results) == 5
    assert results[0]["status"] == "queued" and "deduplicated" not in results[0]
    assert results[1]["error"]["code"] == "invalid_fields"
    assert results[1]["error"]["fields"] == {"productId": "is required"}
    assert results[2]["error"]["fields"]["callback"].startswith("host 'evil.test'")
    assert results[3]["job_id"] == results[0]["job_id"] and results[3]["deduplicated"] is True
    assert results[4]["position_in_queue"] == 0  # high goes first
    assert results[0]["position_in_queue"] == 1  # behind the high one
    state = state_of(app)
    assert state.queue.waiting() == 2
    for result in (results[0], results[4]):
        job = Job.fetch(result["job_id"], connection=state.redis)
        assert job.func_name == JOB_FUNCTION
        assert state.jobs.get(result["job_id"]).enqueued_at is not None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"jobs": [{"code": "A", "productId": "B"}] * 6}, 413, "too_many_jobs"),
        ({"jobs": []}, 400, "invalid_fields"),
        ({"items": []}, 400, "invalid_body"),
        ([{"code": "A", "productId": "B"}], 400, "invalid_body"),
    ],
)
def test_a_batch_that_is_not_one_is_refused_whole(
    app: Flask, auth: dict[str, str], body: Any, status: int, code: str
) -> None:
    response = app.test_client().post(BATCH, json=body, headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert state_of(app).queue.waiting() == 0


class _RefusingQueue:
    """The real queue, except that the enqueue fails the way a Redis going away does; just
    before it fails, ``meanwhile`` runs (another submit joining the new job)."""

    def __init__(self, real: Any, meanwhile: Any) -> None:
        self._real = real
        self._meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def enqueue_many(self, jobs: Any) -> None:
        self._meanwhile()
        raise RedisConnectionError("Connection closed by server.")


def test_a_job_redis_refuses_after_another_submit_joined_it_is_kept_for_both(
    app: Flask, auth: dict[str, str]
) -> None:
    state = state_of(app)
    joined: list[Accepted] = []
    second = JobRequest(
        code="DEMO-001", product_id="minatBakatUmum", callback="http://127.0.0.1/b/pdf-complete"
    )
    refusing = _RefusingQueue(state.queue, lambda: joined.append(submit(state, second)))
    app.extensions["pdfqueue"] = dataclasses.replace(state, queue=cast(JobQueue, refusing))
    try:
        response = app.test_client().post(
            SUBMIT,
            json={
                "code": "DEMO-001",
                "productId": "minatBakatUmum",
                "callback": "http://127.0.0.1/a/pdf-complete",
            },
            headers=auth,
        )
    finally:
        app.extensions["pdfqueue"] = state
    # The row is the promise: accepted, though not in Redis yet, and the joined submit's
    # subscriber is still on it.
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    assert response.get_json()["position_in_queue"] is None
    assert [j.record.job_id for j in joined] == [job_id]
    assert joined[0].deduplicated
    assert [s.callback_url for s in _subscribers(state, job_id)] == [
        "http://127.0.0.1/a/pdf-complete",
        "http://127.0.0.1/b/pdf-complete",
    ]
    assert not state.queue.holds(job_id)
    make_idle(state, job_id)
    assert reconcile(state).jobs_requeued == 1  # once Redis answers, the job runs
    assert state.queue.holds(job_id)
    record = state.jobs.get(job_id)
    assert record is not None and record.status == "queued"


class _AnswerLost(IdempotencyStore):
    """The key's store, except that the first answer cannot be written (SQL went away just
    then, or the process died): the job is made, the key stays reserved and unanswered."""

    lost = 0

    def answer(self, client: str, key: str, status_code: int, response: dict[str, Any]) -> None:
        if not self.lost:
            self.lost += 1
            raise OperationalError("UPDATE pdf_idempotency_keys", {}, Exception("gone"))
        super().answer(client, key, status_code, response)


def _age_reservations(state: PDFQueueState) -> None:
    """A minute and more passes."""
    with state.jobs.engine.begin() as conn:
        conn.execute(
            update(pdf_idempotency_keys).values(created_at=utcnow() - timedelta(minutes=2))
        )


@pytest.mark.parametrize("path", [SUBMIT, BATCH])
def test_a_key_whose_request_died_is_taken_over_and_finds_that_requests_job(
    app: Flask, auth: dict[str, str], path: str
) -> None:
    state = state_of(app)
    app.extensions["pdfqueue"] = dataclasses.replace(
        state, idempotency=_AnswerLost(state.jobs.engine)
    )
    client = app.test_client()
    item = {
        "code": "DEMO-004",
        "productId": "minatBakatUmum",
        "callback": "http://127.0.0.1/k/pdf-complete",
    }
    body: dict[str, Any] = item if path == SUBMIT else {"jobs": [item]}
    keyed = {**auth, "Idempotency-Key": "order-died"}
    try:
        died = client.post(path, json=body, headers=keyed)
        assert died.status_code >= 500  # the job was made, its answer never given
        job = state.jobs.active_for("DEMO-004", "minatBakatUmum")
        assert job is not None
        in_use = client.post(path, json=body, headers=keyed)
        assert in_use.status_code == 409
        assert in_use.get_json()["error"]["code"] == "idempotency_key_in_use"

        _age_reservations(state)
        taken_over = client.post(path, json=body, headers=keyed)
        replayed = client.post(path, json=body, headers=keyed)
    finally:
        app.extensions["pdfqueue"] = state
    answer = taken_over.get_json() if path == SUBMIT else taken_over.get_json()["jobs"][0]
    assert taken_over.status_code == 202
    assert answer["job_id"] == job.job_id  # the dead request's job, not a second one
    assert replayed.get_json() == taken_over.get_json()
    assert [s.callback_url for s in _subscribers(state, job.job_id)] == [item["callback"]]
    assert state.queue.waiting() == 1


def test_a_key_used_again_after_it_expired_is_a_new_request(
    app: Flask, auth: dict[str, str]
) -> None:
    state = state_of(app)
    body = {"code": "DEMO-005", "productId": "minatBakatUmum"}
    keyed = {**auth, "Idempotency-Key": "daily-report"}
    first = app.test_client().post(SUBMIT, json=body, headers=keyed)
    assert first.status_code == 202
    first_id = first.get_json()["job_id"]
    with state.jobs.engine.begin() as conn:  # a day and more later; the job has finished
        conn.execute(update(pdf_idempotency_keys).values(created_at=utcnow() - timedelta(hours=25)))
        conn.execute(
            update(pdf_job_subscribers)
            .where(pdf_job_subscribers.c.job_id == first_id)
            .values(created_at=utcnow() - timedelta(hours=25))
        )
    record_failed(state, first_id, status="failed", error_message="x", error_code="x")
    again = app.test_client().post(SUBMIT, json=body, headers=keyed)
    assert again.status_code == 202
    assert again.get_json()["job_id"] != first_id  # new work, not the day-old answer
