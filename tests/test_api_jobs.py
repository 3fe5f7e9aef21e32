"""Listing and cancelling jobs through the API (real Redis and SQL; no worker runs them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from rq.job import Job, JobStatus

from flask_pdfqueue.errors import StorageError
from flask_pdfqueue.jobs.attempts import settle_failed_run
from flask_pdfqueue.queue.queues import run_id
from tests.factories import isolated_app, processing_job, queued_job, state_of
from tests.servers import RunningServer


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    yield from isolated_app(stack_settings, redis_server, tmp_path, redis_db=4)


def test_the_listing_pages_newest_first_and_stays_put_while_jobs_arrive(
    app: Flask, auth: dict[str, str]
) -> None:
    state = state_of(app)
    made = [queued_job(state, code=f"LIST-{n}") for n in range(5)]
    client = app.test_client()
    first = client.get("/api/jobs?limit=2", headers=auth).get_json()
    assert [j["job_id"] for j in first["jobs"]] == [made[4], made[3]]
    newer = queued_job(state, code="LIST-new")  # arrives between two pages
    second = client.get(f"/api/jobs?limit=2&cursor={first['next_cursor']}", headers=auth)
    assert [j["job_id"] for j in second.get_json()["jobs"]] == [made[2], made[1]]
    last = client.get(
        f"/api/jobs?limit=2&cursor={second.get_json()['next_cursor']}", headers=auth
    ).get_json()
    assert [j["job_id"] for j in last["jobs"]] == [made[0]]
    assert last["next_cursor"] is None
    top = client.get("/api/jobs?limit=1", headers=auth).get_json()
    assert top["jobs"][0]["job_id"] == newer
    assert top["jobs"][0]["status"] == "queued" and top["jobs"][0]["code"] == "LIST-new"


def test_the_listing_filters_by_status_code_and_product(app: Flask, auth: dict[str, str]) -> None:
    state = state_of(app)
    done = processing_job(state, code="FILTER-1")
    state.jobs.complete(done, pdf_url="u", google_drive_link=None, storage_key="k")
    queued_job(state, code="FILTER-2")
    client = app.test_client()
    completed = client.get("/api/jobs?status=completed", headers=auth).get_json()["jobs"]
    assert [j["job_id"] for j in completed] == [done]
    by_code = client.get("/api/jobs?code=FILTER-2&productId=minatBakatUmum", headers=auth)
    assert [j["code"] for j in by_code.get_json()["jobs"]] == ["FILTER-2"]
    assert client.get("/api/jobs?productId=nothing", headers=auth).get_json() == {
        "jobs": [],
        "next_cursor": None,
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("sort=asc", "sort"),
    ],
)
def test_a_bad_listing_query_is_400_naming_the_parameter(
    app: Flask, auth: dict[str, str], query: str, field: str
) -> None:
    response = app.test_client().get(f"/api/jobs?{query}", headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_query" and field in error["fields"]


def test_cancelling_a_queued_job_takes_it_out_of_redis_and_announces_it_once(
    app: Flask, auth: dict[str, str]
) -> None:
    state = state_of(app)
    job_id = queued_job(state, enqueue=True, metadata={"n": 1})
    response = app.test_client().delete(f"/api/jobs/{job_id}", headers=auth)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["error_code"], body["stage"]) == (
        "cancelled",
        "cancelled",
        "notifying",
    )
    assert state.queue.waiting() == 0
    assert Job.fetch(job_id, connection=state.redis).get_status() == JobStatus.CANCELED
    [delivery] = state.deliveries.for_job(job_id)
    assert delivery.url == "http://127.0.0.1:9/webhook/pdf-failed"
    payload = json.loads(delivery.payload)
    assert (payload["status"], payload["error_code"], payload["retryable"]) == (
        "cancelled",
        "cancelled",
        True,
    )
    assert payload["metadata"] == {"n": 1}
    again = app.test_client().delete(f"/api/jobs/{job_id}", headers=auth)
    assert (again.status_code, again.get_json()["error"]["code"]) == (409, "already_finished")
    assert len(state.deliveries.for_job(job_id)) == 1


def test_cancelling_a_job_that_waits_for_its_retry_takes_it_off_the_schedule(
    app: Flask, auth: dict[str, str]
) -> None:
    state = state_of(app)
    job_id = processing_job(state)
    settle_failed_run(state, job_id, job_id, StorageError("disk full"))
    scheduled = state.queue.queues["normal"].scheduled_job_registry
    assert scheduled.get_job_ids() == [run_id(job_id, 2)]
    response = app.test_client().delete(f"/api/jobs/{job_id}", headers=auth)
    assert (response.status_code, response.get_json()["status"]) == (200, "cancelled")
    assert scheduled.get_job_ids() == []
    assert response.get_json()["retry_count"] == 1


def test_cancel_answers_404_for_an_unknown_job(app: Flask, auth: dict[str, str]) -> None:
    response = app.test_client().delete("/api/jobs/pdf_nope", headers=auth)
    assert (response.status_code, response.get_json()["error"]["code"]) == (404, "job_not_found")
