"""The API's rate limit per API key, counted in the real Redis of the test stack."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_pdfqueue import PDFQueueState
from flask_pdfqueue.api.limits import LIMITER_KEY, STORAGE_PREFIX
from tests.conftest import API_KEY, SECOND_API_KEY, make_app, make_isolated_app
from tests.servers import RunningServer, free_port
from tests.test_api import error_of

LIMIT = 3
KEY = {"X-API-Key": API_KEY}
SECOND_KEY = {"Authorization": f"Bearer {SECOND_API_KEY}"}


@pytest.fixture
def limited_app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    """The test stack with a Redis database of its own and a limit of 3 a minute."""
    settings = {**stack_settings, "PDFQUEUE_RATE_LIMIT": f"{LIMIT}/minute"}
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=7)

    @app.get("/host-page")
    def host_page() -> str:
        return "the host's own page"

    state: PDFQueueState = app.extensions["pdfqueue"]
    yield app
    state.close()


def use_up(client: FlaskClient, headers: dict[str, str]) -> None:
    """Spend a key's whole budget on different routes: they share it."""
    answers = [
        client.get("/api/jobs/pdf_missing", headers=headers),
        client.get("/api/jobs?status=queued", headers=headers),
        client.post("/api/reports/generate-async", json={}, headers=headers),
    ]
    assert [r.status_code for r in answers] == [404, 200, 400]


def assert_limited(response: TestResponse) -> None:
    error = error_of(response, 429)
    assert error["code"] == "rate_limited"
    assert "3 per 1 minute" in error["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_the_request_over_the_limit_is_429_with_retry_after(limited_app: Flask) -> None:
    client = limited_app.test_client()
    use_up(client, KEY)
    assert_limited(client.get("/api/jobs/pdf_missing", headers=KEY))
    assert_limited(client.delete("/api/jobs/pdf_missing", headers=KEY))
    assert_limited(client.get("/api/no-such-route", headers=KEY))  # unknown paths count too


def test_one_keys_traffic_never_limits_another_key(limited_app: Flask) -> None:
    client = limited_app.test_client()
    use_up(client, KEY)
    assert_limited(client.get("/api/jobs/pdf_missing", headers=KEY))
    use_up(client, SECOND_KEY)  # a budget of its own, whole
    assert_limited(client.get("/api/jobs/pdf_missing", headers=SECOND_KEY))


def test_health_options_and_the_hosts_pages_are_never_limited(limited_app: Flask) -> None:
    client = limited_app.test_client()
    use_up(client, KEY)
    for _ in range(2 * LIMIT):
        assert client.get("/api/health").status_code in (200, 503)
        assert client.get("/api/health", headers=KEY).status_code in (200, 503)
        assert client.options("/api/jobs/pdf_missing", headers=KEY).status_code == 204
        assert client.get("/host-page", headers=KEY).status_code == 200
    assert_limited(client.get("/api/jobs/pdf_missing", headers=KEY))


@pytest.mark.parametrize(
    "bad", [{}, {"X-API-Key": "wrong"}, {"Authorization": f"Bearer {API_KEY}x"}]
)
def test_requests_without_a_valid_key_get_401_and_cost_no_budget(
    limited_app: Flask, bad: dict[str, str]
) -> None:
    state: PDFQueueState = limited_app.extensions["pdfqueue"]
    client = limited_app.test_client()
    for _ in range(2 * LIMIT):
        assert error_of(client.get("/api/jobs/pdf_missing", headers=bad), 401)["code"] == (
            "unauthorized"
        )
    assert not list(state.redis.scan_iter(f"{STORAGE_PREFIX}*"))  # nothing was counted
    use_up(client, KEY)  # the whole budget is still there
    assert_limited(client.get("/api/jobs/pdf_missing", headers=KEY))
    # Over the limit, a request without a valid key is still told about the key first.
    assert error_of(client.get("/api/jobs/pdf_missing", headers=bad), 401)["code"] == (
        "unauthorized"
    )


def test_redis_counts_under_a_hash_of_the_key_never_the_key(limited_app: Flask) -> None:
    state: PDFQueueState = limited_app.extensions["pdfqueue"]
    client = limited_app.test_client()
    client.get("/api/jobs/pdf_missing", headers=KEY)
    keys = [k.decode() for k in state.redis.scan_iter(f"{STORAGE_PREFIX}*")]
    assert keys
    assert all(hashlib.sha256(API_KEY.encode()).hexdigest() in k for k in keys)
    everything = b" ".join(state.redis.scan_iter("*"))
    assert API_KEY.encode() not in everything


def test_each_app_counts_in_its_own_redis(
    limited_app: Flask, stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    settings = {**stack_settings, "PDFQUEUE_RATE_LIMIT": f"{LIMIT}/minute"}
    (tmp_path / "other").mkdir()
    other = make_isolated_app(settings, redis_server, tmp_path / "other", redis_db=6)
    try:
        assert other.extensions[LIMITER_KEY] is not limited_app.extensions[LIMITER_KEY]
        use_up(limited_app.test_client(), KEY)
        use_up(other.test_client(), KEY)  # same key, another deployment: its own budget
    finally:
        other.extensions["pdfqueue"].close()


def test_a_redis_outage_falls_back_to_counting_in_memory_not_to_errors(
    stack_settings: dict[str, str],
    state: PDFQueueState,  # the session app: its SQL schema is in place
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app(
        {
            **stack_settings,
            "PDFQUEUE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
            "PDFQUEUE_RATE_LIMIT": f"{LIMIT}/minute",
        },
        tmp_path,
    )
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="flask-limiter"):
        for _ in range(LIMIT):  # status answers come from SQL: they work without Redis
            response = client.get("/api/jobs/pdf_missing", headers=KEY)
            assert error_of(response, 404)["code"] == "job_not_found"
    assert "falling back to in-memory storage" in caplog.text
    assert_limited(client.get("/api/jobs/pdf_missing", headers=KEY))
