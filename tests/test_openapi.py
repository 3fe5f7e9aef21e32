"""The OpenAPI document: valid 3.1, complete, and true to the running API.

The document is checked three ways: against the OpenAPI 3.1 specification
(openapi-spec-validator), against the routes the blueprint registers, and against
the answers the real app gives on real Redis, SQL and MongoDB, for chosen bad
requests here and for generated ones by schemathesis.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from openapi_schema_validator import OAS31Validator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate as validate_document
from schemathesis import Case
from werkzeug.test import TestResponse

import flask_pdfqueue
from flask_pdfqueue import PDFQueue, PDFQueueState
from flask_pdfqueue.api.openapi import openapi_document
from flask_pdfqueue.api.routes import ROUTES
from tests.conftest import API_KEY, make_isolated_app
from tests.factories import queued_job
from tests.servers import RunningServer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

DOCUMENT = "/api/openapi.json"
AUTH = {"X-API-Key": API_KEY}
SUBMIT = "/api/reports/generate-async"
BATCH = "/api/reports/generate-batch"
#: What the module's app documents (its PDFQUEUE_BATCH_MAX is 5).
DOCUMENT_OPTIONS: dict[str, Any] = {"server_url": "/api", "health_public": True, "batch_max": 5}


class LateApp:
    """The WSGI app schemathesis calls: the module's test app, which a fixture builds
    after the schema is loaded (at import, so that pytest gets one test per operation)."""

    app: Flask | None = None

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        assert self.app is not None, "the api_app fixture builds the app"
        return self.app(environ, start_response)


APP = LateApp()


@pytest.fixture(scope="module")
def api_app(
    stack_settings: dict[str, str],
    redis_server: RunningServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Flask]:
    """The real stack where no worker runs: jobs stay queued, and the legacy endpoint
    gives up waiting after a second."""
    settings = {
        **stack_settings,
        "PDFQUEUE_SYNC_TIMEOUT": "1",
        "PDFQUEUE_BATCH_MAX": "5",
        "PDFQUEUE_MAX_QUEUE_SIZE": "100000",  # generated submits never fill it
        "PDFQUEUE_RATE_LIMIT": "100000/minute",  # nor use up the key's budget
    }
    home = tmp_path_factory.mktemp("openapi")
    app = make_isolated_app(settings, redis_server, home, redis_db=3)
    APP.app = app
    yield app
    APP.app = None
    state: PDFQueueState = app.extensions["pdfqueue"]
    state.close()


@pytest.fixture
def client(api_app: Flask) -> FlaskClient:
    return api_app.test_client()


@pytest.fixture(scope="module")
def document(api_app: Flask) -> dict[str, Any]:
    response = api_app.test_client().get(DOCUMENT, headers=AUTH)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    served: dict[str, Any] = response.get_json()
    return served


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate_document(document)
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["version"] == flask_pdfqueue.__version__
    assert document["servers"] == [{"url": "/api", "description": "Where the API is mounted."}]


def test_schemathesis_tests_the_document_the_app_serves(document: dict[str, Any]) -> None:
    assert document == schema.raw_schema


def test_the_document_needs_an_api_key(client: FlaskClient) -> None:
    response = client.get(DOCUMENT)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def _documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }


def _registered_operations(app: Flask, prefix: str) -> set[tuple[str, str]]:
    """Method and OpenAPI path of every route of the blueprint, but the catch-all."""
    registered = set()
    for rule in app.url_map.iter_rules():
        endpoint = rule.endpoint
        if not endpoint.startswith("pdfqueue.") or endpoint == "pdfqueue.unknown_route":
            continue
        assert rule.rule.startswith(prefix + "/")
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule.removeprefix(prefix))
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}  # both added by Flask
        registered |= {(method, path) for method in methods}
    return registered


def test_every_route_is_documented_and_every_documented_operation_exists(
    api_app: Flask, document: dict[str, Any]
) -> None:
    registered = _registered_operations(api_app, "/api")
    assert registered, "no routes found: is the blueprint still named pdfqueue?"
    assert _documented_operations(document) == registered


def test_server_url_and_paths_lead_to_the_routes_wherever_the_api_is_mounted(
    stack_settings: dict[str, str], tmp_path: Path
) -> None:
    app = Flask("mounted_elsewhere", instance_path=str(tmp_path))
    app.config.update(
        {
            **stack_settings,
            "PDFQUEUE_REDIS_URL": stack_settings["PDFQUEUE_REDIS_URL"].rsplit("/", 1)[0] + "/3",
            "PDFQUEUE_SQL_URL": f"sqlite:///{tmp_path / 'mounted.sqlite3'}",
        }
    )
    PDFQueue(app, url_prefix="/reporting/v2")
    try:
        client = app.test_client()
        # Served under a WSGI mount point (SCRIPT_NAME) too: the server URL includes it.
        response = client.get(
            "/reporting/v2/openapi.json", headers=AUTH, base_url="http://example.test/pdf"
        )
        served = response.get_json()
        server_url = served["servers"][0]["url"]
        assert server_url == "/pdf/reporting/v2"
        assert _documented_operations(served) == _registered_operations(app, "/reporting/v2")
        # A client joins the server URL and a path, then fills the parameters in.
        adapter = app.url_map.bind("example.test", script_name="/pdf")
        for method, path in _documented_operations(served):
            url = (server_url + path).replace("{job_id}", "pdf_0123")
            endpoint, _ = adapter.match(url.removeprefix("/pdf"), method=method)
            assert endpoint != "pdfqueue.unknown_route", (method, url)
    finally:
        app.extensions["pdfqueue"].close()


def test_health_is_public_in_the_document_only_while_it_is_public() -> None:
    for public in (True, False):
        document = openapi_document(ROUTES, server_url="/api", health_public=public, batch_max=5)
        health = document["paths"]["/health"]["get"]
        assert ("security" in health) is public
        assert ("401" in health["responses"]) is not public
        if public:
            assert health["security"] == []
        for path, operations in document["paths"].items():
            for operation in operations.values():
                if path != "/health":
                    assert "security" not in operation  # the document's: a key
                    assert operation["responses"]["401"]["x-error-codes"] == ["unauthorized"]
    assert document["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert document["components"]["securitySchemes"] == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }


def _raised_codes() -> set[str]:
    """Every string literal in the package: where an error code must come from."""
    package = Path(flask_pdfqueue.__file__).parent
    return {
        node.value
        for source in package.rglob("*.py")
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def test_every_documented_error_code_is_one_the_code_can_give() -> None:
    raised = _raised_codes()
    for route in ROUTES:
        for status, codes in route.errors.items():
            assert codes, (route.operation_id, status)
            assert set(codes) <= raised, (route.operation_id, status, set(codes) - raised)


def assert_documented(
    document: dict[str, Any], method: str, path: str, response: TestResponse
) -> dict[str, Any]:
    """Check an answer against the operation's documented answers; return its body."""
    operation = document["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], (method, path, status, response.data)
    documented = operation["responses"][status]
    for header in documented.get("headers", {}):
        assert header in response.headers, (method, path, status, header)
    assert response.mimetype in documented["content"], (method, path, response.mimetype)
    body: dict[str, Any] = response.get_json()
    schema = documented["content"][response.mimetype]["schema"]
    validate_instance(body, {**schema, "components": document["components"]}, cls=OAS31Validator)
    if "x-error-codes" in documented:  # an error envelope (health's 503 is its checks)
        assert body["error"]["code"] in documented["x-error-codes"], (method, path, body)
    return body


@pytest.mark.parametrize(
    ("request_options", "status", "code"),
    [
        ({"json": {"code": "X", "productId": "y"}, "headers": {}}, 401, "unauthorized"),
        (
            {"json": {"code": "X", "productId": "y"}, "headers": {"X-API-Key": "wrong"}},
            401,
            "unauthorized",
        ),
        ({"data": "code=X", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ({"data": "{", "content_type": "application/json"}, 400, "invalid_json"),
        ({"data": "NaN", "content_type": "application/json"}, 400, "invalid_json"),
        ({"json": ["code", "X"]}, 400, "invalid_body"),
        ({"json": {"code": "X"}}, 400, "invalid_fields"),
        ({"json": {"code": "X", "productId": "y", "colour": "red"}}, 400, "invalid_fields"),
        (
            {"json": {"code": "X", "productId": "y", "callback": "http://evil.example.com/"}},
            400,
            "invalid_fields",
        ),
        (
            {
                "json": {"code": "X", "productId": "y"},
                "headers": {**AUTH, "Idempotency-Key": "k" * 256},
            },
            400,
            "invalid_idempotency_key",
        ),
        ({"json": {"code": "X" * 70_000, "productId": "y"}}, 413, "payload_too_large"),
    ],
)
def test_submit_refusals_are_documented_with_their_codes(
    client: FlaskClient,
    document: dict[str, Any],
    request_options: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = request_options.pop("headers", AUTH)
    response = client.post(SUBMIT, headers=headers, **request_options)
    assert response.status_code == status, response.data
    body = assert_documented(document, "POST", "/reports/generate-async", response)
    assert body["error"]["code"] == code


def test_submit_answers_and_idempotency_refusals_are_documented(
    client: FlaskClient, document: dict[str, Any]
) -> None:
    operation = ("POST", "/reports/generate-async")
    job = {"code": "OPENAPI-1", "productId": "minatBakatUmum"}
    keyed = {**AUTH, "Idempotency-Key": "openapi-submit-1"}
    first = client.post(SUBMIT, json=job, headers=keyed)
    assert first.status_code == 202
    accepted = assert_documented(document, *operation, first)
    assert first.headers["Location"] == accepted["status_url"]

    joined = client.post(SUBMIT, json=job, headers=AUTH)
    assert joined.status_code == 200
    assert assert_documented(document, *operation, joined)["deduplicated"] is True

    replayed = client.post(SUBMIT, json=job, headers=keyed)  # the first answer, Location too
    assert (replayed.status_code, replayed.get_json()) == (202, accepted)
    assert replayed.headers["Location"] == accepted["status_url"]
    assert_documented(document, *operation, replayed)

    reused = client.post(SUBMIT, json={**job, "priority": "high"}, headers=keyed)
    assert reused.status_code == 422
    assert assert_documented(document, *operation, reused)["error"]["code"] == (
        "idempotency_key_reused"
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"jobs": [{"code": "X", "productId": "y"}] * 6}, 413, "too_many_jobs"),
        ({"jobs": []}, 400, "invalid_fields"),
        ({"jobs": {"code": "X"}}, 400, "invalid_body"),
        ({"code": "X", "productId": "y"}, 400, "invalid_body"),
    ],
)
def test_batch_refusals_are_documented_with_their_codes(
    client: FlaskClient, document: dict[str, Any], body: Any, status: int, code: str
) -> None:
    response = client.post(BATCH, json=body, headers=AUTH)
    assert response.status_code == status, response.data
    answer = assert_documented(document, "POST", "/reports/generate-batch", response)
    assert answer["error"]["code"] == code


def test_job_routes_answer_as_documented(
    api_app: Flask, client: FlaskClient, document: dict[str, Any]
) -> None:
    state: PDFQueueState = api_app.extensions["pdfqueue"]
    job_id = queued_job(state, code="OPENAPI-2", callback=None, failure_callback=None)
    job, download = f"/api/jobs/{job_id}", f"/api/jobs/{job_id}/download"
    replay = f"/api/webhooks/{job_id}/replay"
    expected = [
        ("GET", "/jobs", "/api/jobs?status=queued&limit=2", 200, None),
        ("GET", "/jobs", "/api/jobs?status=lost", 400, "invalid_query"),
        ("GET", "/jobs", "/api/jobs?limit=0", 400, "invalid_query"),
        ("GET", "/jobs", "/api/jobs?cursor=nonsense", 400, "invalid_query"),
        ("GET", "/jobs", "/api/jobs?colour=red", 400, "invalid_query"),
        ("GET", "/jobs/{job_id}", job, 200, None),
        ("GET", "/jobs/{job_id}", "/api/jobs/pdf_nobody", 404, "job_not_found"),
        ("GET", "/jobs/{job_id}/download", download, 409, "not_ready"),
        ("GET", "/jobs/{job_id}/download", "/api/jobs/pdf_nobody/download", 404, "job_not_found"),
        ("POST", "/webhooks/{job_id}/replay", replay, 409, "not_finished"),
        ("POST", "/webhooks/{job_id}/replay", "/api/webhooks/pdf_x/replay", 404, "job_not_found"),
        ("DELETE", "/jobs/{job_id}", job, 200, None),
        ("DELETE", "/jobs/{job_id}", job, 409, "already_finished"),
        ("DELETE", "/jobs/{job_id}", "/api/jobs/pdf_nobody", 404, "job_not_found"),
        ("POST", "/webhooks/{job_id}/replay", replay, 409, "no_webhooks"),
    ]
    for method, path, url, status, code in expected:
        response = client.open(url, method=method, headers=AUTH)
        assert response.status_code == status, (method, url, response.data)
        body = assert_documented(document, method, path, response)
        if code is not None:
            assert body["error"]["code"] == code


def test_health_answers_as_documented(client: FlaskClient, document: dict[str, Any]) -> None:
    response = client.get("/api/health")  # no worker here: 503, with the checks
    assert response.status_code == 503
    assert assert_documented(document, "GET", "/health", response)["status"] == "unavailable"


def test_a_wrong_method_on_a_public_path_is_405_without_a_key(client: FlaskClient) -> None:
    response = client.put("/api/health")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert client.put("/api/jobs").status_code == 401  # elsewhere the key comes first


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20261130,
        "auth": {"openapi": {"ApiKey": {"api_key": API_KEY}, "Bearer": {"bearer": API_KEY}}},
        "generation": {"max-examples": 25, "deterministic": True},
        "operations": [
            {
                # No worker runs here: health says so, with the 503 it documents.
                "include-operation-id": "getHealth",
                "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "4xx", "503"]}},
            },
            {
                # Schema-valid is not enough: callbacks must be on the allow-list, a key
                # reused with another body is refused, and a cursor must be one handed out.
                "include-operation-id": ["submitJob", "submitBatch", "generateAndWait", "listJobs"],
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                # Each call that passes validation waits PDFQUEUE_SYNC_TIMEOUT (1 s) for a
                # worker that is not there: a few generated cases, no coverage sweep.
                "include-operation-id": "generateAndWait",
                "generation": {"max-examples": 5},
                "phases": {"coverage": {"enabled": False}},
            },
            {
                # Each item of a batch is judged on its own: a bad one gets its error
                # envelope inside the 202, beside the accepted ones.
                "include-operation-id": "submitBatch",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
        ],
    }
)
schema = schemathesis.openapi.from_dict(openapi_document(ROUTES, **DOCUMENT_OPTIONS), config=CONFIG)
schema.app = APP


@schema.parametrize()
@settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_document_says(case: Case[Any], api_app: Flask) -> None:
    """Generated requests, valid and not, against the real app: no server error, and every
    answer has a documented status, content type, headers and body."""
    case.call_and_validate()
