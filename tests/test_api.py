"""The HTTP API's answers to good and bad requests: status codes and the JSON envelope."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_pdfqueue import PDFQueueState
from tests.conftest import SECOND_API_KEY

SUBMIT = "/api/reports/generate-async"
VALID = {"code": "DEMO-002", "productId": "minatBakatUmum"}


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
    ],
)
def test_callbacks_outside_the_allow_list_are_refused(
    client: FlaskClient, auth: dict[str, str], callback: str, problem: str
) -> None:
    error = error_of(client.post(SUBMIT, json={**VALID, "callback": callback}, headers=auth), 400)
    assert problem in error["fields"]["callback"]


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
    body = client.get("/api/health").get_json()
    assert set(body["checks"]) == {"redis", "mongo", "sql", "workers", "scheduler"}
    assert body["checks"]["redis"]["ok"] is True
    assert body["checks"]["mongo"]["ok"] is True
    assert body["checks"]["sql"]["ok"] is True


def test_accepted_job_is_recorded_before_any_worker_runs(
    client: FlaskClient, auth: dict[str, str], state: PDFQueueState
) -> None:
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
    record = state.jobs.get(body["job_id"])
    assert record is not None
    assert (record.status, record.priority, record.code) == ("queued", "low", "DEMO-002")
    status = client.get(f"/api/jobs/{body['job_id']}", headers=auth).get_json()
    assert status["status"] in ("queued", "processing", "completed")
    assert status["productId"] == "minatBakatUmum"
