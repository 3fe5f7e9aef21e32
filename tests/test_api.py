"""The HTTP API's answers to good and bad requests: status codes and the JSON envelope."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler
from rq.utils import utcformat
from werkzeug.test import TestResponse

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.queue.rq_state import BEAT_KEY, SCHEDULER_RECORD_TTL
from flask_pdfqueue.worker.classes import PDFWorker
from tests.conftest import SECOND_API_KEY, make_app, make_isolated_app
from tests.factories import processing_job
from tests.integration.helpers import wait_until
from tests.servers import RunningServer, free_port

SUBMIT = "/api/reports/generate-async"
VALID = {"code": "DEMO-002", "productId": "minatBakatUmum"}


@pytest.fixture
def idle_app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    """The test stack where no worker runs anything: jobs stay queued."""
    app = make_isolated_app(stack_settings, redis_server, tmp_path, redis_db=9)
    state: PDFQueueState = app.extensions["pdfqueue"]
    yield app
    state.close()


def broken_app(settings: dict[str, str], tmp_path: Path, **broken: str) -> Flask:
    """The test stack with some services pointed at a port nobody listens on."""
    return make_app({**settings, **broken}, tmp_path)


def closed_port() -> int:
    return free_port()


def error_of(response: TestResponse, status: int) -> dict[str, Any]:
    """The envelope of an error answer, after checking it is JSON with the right status."""
    assert response.status_code == status, response.data
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert isinstance(body["error"]["code"], str) and body["error"]["code"]
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"productId": "x"}, {"code": "is required"}),
        ({}, {"code": "is required", "productId": "is required"}),
        ({"code": 12, "productId": "x"}, {"code": "Input should be a valid string"}),
        ({"code": "", "productId": "x"}, {"code": "String should have at least 1 character"}),
        (
            {"code": "a" * 256, "productId": "x"},
            {"code": "String should have at most 255 characters"},
        ),
        (
            {**VALID, "priority": "urgent"},
            {"priority": "Input should be 'high', 'normal' or 'low'"},
        ),
        ({**VALID, "deliver": "attachment"}, {"deliver": "Input should be 'link' or 'inline'"}),
        ({**VALID, "colour": "red"}, {"colour": "is not a known field"}),
        ({**VALID, "product_id": "x"}, {"product_id": "is not a known field"}),
        ({**VALID, "metadata": ["a"]}, {"metadata": "Input should be a valid dictionary"}),
        (
            {**VALID, "metadata": {"blob": "x" * 5000}},
            {"metadata": "must serialise to at most 4096 bytes of JSON"},
        ),
    ],
)
def test_invalid_fields_are_named(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], fields: dict[str, str]
) -> None:
    error = error_of(client.post(SUBMIT, json=body, headers=auth), 400)
    assert error["code"] == "invalid_fields"
    assert error["fields"] == fields


@pytest.mark.parametrize(
    ("callback", "problem"),
    [
        ("http://evil.example.com/hook", "not in PDFQUEUE_CALLBACK_ALLOWED_HOSTS"),
        ("ftp://127.0.0.1/hook", "absolute http(s) URL"),
        ("/webhook/pdf-complete", "absolute http(s) URL"),
        ("http://user:pw@127.0.0.1/hook", "user name or password"),
        ("http://[::1/pdf-complete", "not a valid URL"),
    ],
)
def test_callbacks_outside_the_allow_list_are_refused(
    client: FlaskClient, auth: dict[str, str], callback: str, problem: str
) -> None:
    error = error_of(client.post(SUBMIT, json={**VALID, "callback": callback}, headers=auth), 400)
    assert problem in error["fields"]["callback"]


@pytest.mark.parametrize(
    "callback",
    ["http://[::ffff:a9fe:a9fe]./latest/meta-data", "http://[fd00:ec2::254]/latest/meta-data"],
)
def test_a_refused_callback_is_named_whoever_refuses_it(
    client: FlaskClient, auth: dict[str, str], callback: str
) -> None:
    # The first is refused by urllib.parse on some Python patch releases and by the guard on
    # others: either way the answer is the same 400 naming the field.
    error = error_of(client.post(SUBMIT, json={**VALID, "callback": callback}, headers=auth), 400)
    assert error["code"] == "invalid_fields"
    assert list(error["fields"]) == ["callback"]
    assert error["fields"]["callback"]


def test_body_that_is_not_json_is_415(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(SUBMIT, data="code=x", headers=auth, content_type="text/plain")
    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_malformed_json_is_400(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.post(SUBMIT, data="{nope", headers=auth, content_type="application/json")
    error = error_of(response, 400)
    assert error["code"] == "invalid_json"


def test_json_that_is_not_an_object_is_400(client: FlaskClient, auth: dict[str, str]) -> None:
    error = error_of(client.post(SUBMIT, json=["DEMO-001"], headers=auth), 400)
    assert error["code"] == "invalid_body"


def test_too_large_body_is_413(client: FlaskClient, auth: dict[str, str]) -> None:
    body = {**VALID, "metadata": {"blob": "x" * 70_000}}
    assert error_of(client.post(SUBMIT, json=body, headers=auth), 413)["code"] == (
        "payload_too_large"
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}],
)
def test_missing_or_wrong_key_is_401(client: FlaskClient, headers: dict[str, str]) -> None:
    error = error_of(client.post(SUBMIT, json=VALID, headers=headers), 401)
    assert error["code"] == "unauthorized"
    error = error_of(client.get("/api/jobs/pdf_0", headers=headers), 401)
    assert error["code"] == "unauthorized"


def test_bearer_and_rotated_keys_are_accepted(client: FlaskClient) -> None:
    response = client.get("/api/jobs/pdf_0", headers={"Authorization": f"Bearer {SECOND_API_KEY}"})
    assert error_of(response, 404)["code"] == "job_not_found"


def test_unknown_route_and_method_answer_json(client: FlaskClient, auth: dict[str, str]) -> None:
    assert error_of(client.get("/api/nothing-here", headers=auth), 404)["code"] == "not_found"
    response = client.get(SUBMIT, headers=auth)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_routes_outside_the_api_keep_the_host_apps_pages(client: FlaskClient) -> None:
    response = client.get("/not-ours")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_health_is_public_and_reports_each_service(client: FlaskClient) -> None:
    response = client.get("/api/health")
    body = response.get_json()
    assert set(body["checks"]) == {
        "redis",
        "mongo",
        "sql",
        "workers",
        "delivery_workers",
        "scheduler",
    }
    assert body["checks"]["redis"] == {"ok": True}
    assert body["checks"]["mongo"] == {"ok": True}
    assert body["checks"]["sql"] == {"ok": True}
    healthy = all(check["ok"] for check in body["checks"].values())
    assert response.status_code == (200 if healthy else 503)
    assert body["status"] == ("ok" if healthy else "unavailable")


def test_accepted_job_is_recorded_before_any_worker_runs(
    idle_app: Flask, auth: dict[str, str]
) -> None:
    state: PDFQueueState = idle_app.extensions["pdfqueue"]
    client = idle_app.test_client()
    response = client.post(SUBMIT, json={**VALID, "priority": "low"}, headers=auth)
    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {
        "job_id",
        "status",
        "position_in_queue",
        "estimated_completion",
        "created_at",
        "status_url",
    }
    assert response.headers["Location"] == body["status_url"]
    assert body["status_url"] == f"http://pdfqueue.test/api/jobs/{body['job_id']}"
    assert body["position_in_queue"] == state.queue.waiting() - 1
    record = state.jobs.get(body["job_id"])
    assert record is not None
    assert (record.status, record.priority, record.code) == ("queued", "low", "DEMO-002")
    assert record.enqueued_at is not None  # Redis has it: the reconciler may bring it back

    def mirrored() -> dict[str, Any]:  # written by the web process's thread, after the 202
        document = state.documents.collection.find_one(
            {"code": "DEMO-002", "product_id": "minatBakatUmum"}
        )
        assert document is not None
        return dict(document.get("pdf_generation") or {})

    wait_until(lambda: mirrored().get("job_id") == body["job_id"], timeout=5)
    assert mirrored()["status"] == "queued"
    status = client.get(f"/api/jobs/{body['job_id']}", headers=auth).get_json()
    assert (status["status"], status["stage"], status["progress"]) == ("queued", "queued", 0)
    assert status["position_in_queue"] == body["position_in_queue"]
    assert status["productId"] == "minatBakatUmum"
    download = client.get(f"/api/jobs/{body['job_id']}/download", headers=auth)
    assert error_of(download, 409)["code"] == "not_ready"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"code": NaN, "productId": "x"}', "NaN is not a JSON value"),
        ('{"metadata": {"x": Infinity}}', "Infinity is not a JSON value"),
    ],
)
def test_json_that_python_would_accept_but_json_does_not_is_400(
    client: FlaskClient, auth: dict[str, str], raw: str, problem: str
) -> None:
    response = client.post(SUBMIT, data=raw, headers=auth, content_type="application/json")
    error = error_of(response, 400)
    assert error["code"] == "invalid_json"
    assert problem in error["message"]


def test_deeply_nested_json_within_the_size_limit_is_400(
    client: FlaskClient, auth: dict[str, str]
) -> None:
    raw = "[" * 30_000 + "]" * 30_000
    response = client.post(SUBMIT, data=raw, headers=auth, content_type="application/json")
    error = error_of(response, 400)
    assert (error["code"], error["message"]) == ("invalid_json", "The body is nested too deeply.")


@pytest.mark.parametrize("value", ["DEMO\x00", "a\nb", "x\x7f"])
def test_control_characters_in_identifiers_are_refused(
    client: FlaskClient, auth: dict[str, str], value: str
) -> None:
    response = client.post(SUBMIT, json={"code": value, "productId": "p"}, headers=auth)
    assert error_of(response, 400)["fields"] == {"code": "must not contain control characters"}


def test_unknown_paths_need_a_key_first(client: FlaskClient, auth: dict[str, str]) -> None:
    assert error_of(client.get("/api/anything"), 401)["code"] == "unauthorized"
    assert error_of(client.get("/api/", headers=auth), 404)["code"] == "not_found"
    assert error_of(client.delete("/api/health", headers=auth), 405)["code"] == (
        "method_not_allowed"
    )


def test_full_queue_is_503_with_retry_after(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    auth: dict[str, str],
    tmp_path: Path,
) -> None:
    settings = {**stack_settings, "PDFQUEUE_MAX_QUEUE_SIZE": "1"}
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=9)
    client = app.test_client()
    assert client.post(SUBMIT, json=VALID, headers=auth).status_code == 202
    other_report = {**VALID, "code": "DEMO-003"}
    response = client.post(SUBMIT, json=other_report, headers=auth)
    assert error_of(response, 503)["code"] == "queue_full"
    assert response.headers["Retry-After"].isdigit()
    # Joining the report already queued adds no job: it is answered even now.
    joined = client.post(SUBMIT, json=VALID, headers=auth)
    assert (joined.status_code, joined.get_json()["deduplicated"]) == (200, True)
    app.extensions["pdfqueue"].close()


def test_unreachable_redis_refuses_submits_with_503_and_records_nothing(
    stack_settings: dict[str, str], auth: dict[str, str], tmp_path: Path, state: PDFQueueState
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    app = broken_app(stack_settings, tmp_path, PDFQUEUE_REDIS_URL=url)
    before = _count_rows(state)
    response = app.test_client().post(SUBMIT, json=VALID, headers=auth)
    error = error_of(response, 503)
    assert error["code"] == "queue_unavailable"
    assert "127.0.0.1" not in error["message"]
    assert response.headers["Retry-After"].isdigit()
    assert _count_rows(state) == before


def test_unreachable_sql_is_503_not_500(
    stack_settings: dict[str, str], auth: dict[str, str], tmp_path: Path
) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/none"
    client = broken_app(stack_settings, tmp_path, PDFQUEUE_SQL_URL=url).test_client()
    for response in (
        client.get("/api/jobs/pdf_x", headers=auth),
        client.post(SUBMIT, json=VALID, headers=auth),
    ):
        error = error_of(response, 503)
        assert error["code"] == "service_unavailable"
        assert "SQL" in error["message"]
        assert response.headers["Retry-After"].isdigit()


def test_health_names_what_is_down_without_internal_details(
    stack_settings: dict[str, str], tmp_path: Path
) -> None:
    app = broken_app(
        stack_settings,
        tmp_path,
        PDFQUEUE_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
        PDFQUEUE_SQL_URL=f"postgresql+psycopg://nobody@127.0.0.1:{closed_port()}/none",
    )
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == {"ok": False}
    assert body["checks"]["sql"] == {"ok": False}
    assert body["checks"]["mongo"] == {"ok": True}
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_health_can_require_the_key(
    stack_settings: dict[str, str], auth: dict[str, str], tmp_path: Path
) -> None:
    app = make_app({**stack_settings, "PDFQUEUE_HEALTH_PUBLIC": "false"}, tmp_path)
    client = app.test_client()
    assert error_of(client.get("/api/health"), 401)["code"] == "unauthorized"
    assert set(client.get("/api/health", headers=auth).get_json()["checks"]) == {
        "redis",
        "mongo",
        "sql",
        "workers",
        "delivery_workers",
        "scheduler",
    }


def test_public_health_checks_a_key_that_is_sent(client: FlaskClient, auth: dict[str, str]) -> None:
    """n8n's credential test calls health with the key: a wrong one must not pass."""
    assert client.get("/api/health").status_code in (200, 503)
    assert client.get("/api/health", headers=auth).status_code in (200, 503)
    wrong = client.get("/api/health", headers={"X-API-Key": "not-a-key"})
    assert error_of(wrong, 401)["code"] == "unauthorized"


def _count_rows(state: PDFQueueState) -> int:
    from sqlalchemy import func, select

    from flask_pdfqueue.records.sql import pdf_job_results

    with state.jobs.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(pdf_job_results)).scalar_one())


def test_any_method_under_the_prefix_gets_a_json_405(
    stack_settings: dict[str, str], tmp_path: Path
) -> None:
    app = make_app(stack_settings, tmp_path)

    @app.get("/hello")
    def hello() -> str:
        return "hello"

    client = app.test_client()
    for method in ("TRACE", "PROPFIND"):
        response = client.open("/api/jobs/pdf_x", method=method)
        assert error_of(response, 405)["code"] == "method_not_allowed"
        host = client.open("/hello", method=method)
        assert (host.status_code, host.mimetype) == (405, "text/html")


def test_the_api_needs_a_prefix_of_its_own() -> None:
    from flask_pdfqueue import PDFQueue

    for prefix in ("", "/"):
        with pytest.raises(ValueError, match="url_prefix"):
            PDFQueue(url_prefix=prefix)


def test_health_counts_only_schedulers_and_workers_that_heartbeat(
    idle_app: Flask, auth: dict[str, str]
) -> None:
    state: PDFQueueState = idle_app.extensions["pdfqueue"]
    client = idle_app.test_client()

    def checks() -> dict[str, Any]:
        body: dict[str, Any] = client.get("/api/health").get_json()["checks"]
        return body

    assert (checks()["scheduler"], checks()["workers"]) == (
        {"ok": False},
        {"ok": False, "count": 0},
    )
    now = datetime.now(UTC)
    for queue in state.queue.all:  # a scheduler killed 20 s ago left its locks behind
        state.redis.set(RQScheduler.get_locking_key(queue.name), "dead", ex=61)
    record = SCHEDULER_KEY_TEMPLATE % "dead"
    state.redis.hset(record, "last_heartbeat", utcformat(now))  # its host's clock: no matter
    state.redis.expire(record, SCHEDULER_RECORD_TTL - 20)  # RQ's TTL, 20 s after its last beat
    assert checks()["scheduler"] == {"ok": False}
    state.redis.expire(record, SCHEDULER_RECORD_TTL)  # it beats again
    assert checks()["scheduler"] == {"ok": True}

    worker = PDFWorker(state.queue.ordered, connection=state.redis, name="alive")
    worker.register_birth()
    assert checks()["workers"] == {"ok": True, "count": 1}
    state.redis.delete(BEAT_KEY.format(worker="alive"))  # killed: its beat expired
    assert checks()["workers"] == {"ok": False, "count": 0}  # though its registration lingers


def test_a_stalled_redis_costs_a_submit_seconds_and_a_503_not_a_hung_thread(
    stack_settings: dict[str, str], auth: dict[str, str], tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as stalled:  # accepts, never answers
        port = stalled.getsockname()[1]
        app = broken_app(stack_settings, tmp_path, PDFQUEUE_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        started = time.monotonic()
        response = app.test_client().post(SUBMIT, json=VALID, headers=auth)
        assert error_of(response, 503)["code"] == "queue_unavailable"
        assert time.monotonic() - started < 15


def test_an_unexpected_error_is_a_json_500_with_a_correlation_id_the_log_carries(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    auth: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = {**stack_settings, "PDFQUEUE_STORAGE": "tests.plugins.broken_storage:make"}
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=9)
    state: PDFQueueState = app.extensions["pdfqueue"]
    with app.app_context():
        job_id = processing_job(state)
    state.jobs.complete(job_id, pdf_url="u", google_drive_link=None, storage_key=f"{job_id}.pdf")

    response = app.test_client().get(f"/api/jobs/{job_id}/download", headers=auth)

    error = error_of(response, 500)
    assert error["code"] == "internal_error"
    correlation_id = response.headers["X-Correlation-Id"]
    assert correlation_id in error["message"]
    assert "nobody foresaw" not in response.get_data(as_text=True)
    assert any(correlation_id in record.getMessage() for record in caplog.records)
    state.close()
