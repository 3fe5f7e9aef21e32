"""rq-dashboard at /rq: closed without the login, read-only with it, under a strict CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_pdfqueue import PDFQueueState
from tests.conftest import make_app, make_isolated_app
from tests.servers import RunningServer

PASSWORD = "correct horse battery staple"


def basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def app(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> Iterator[Flask]:
    settings = {**stack_settings, "PDFQUEUE_DASHBOARD_PASSWORD": PASSWORD}
    app = make_isolated_app(settings, redis_server, tmp_path, redis_db=13)
    yield app
    app.extensions["pdfqueue"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.mark.parametrize("path", ["/rq/", "/rq/0/data/queues.json", "/rq/0/view/workers"])
@pytest.mark.parametrize(
    "headers",
    [{}, basic("admin", "wrong"), basic("root", PASSWORD), {"Authorization": "Bearer x"}],
)
def test_the_dashboard_is_closed_without_its_login(
    client: FlaskClient, path: str, headers: dict[str, str]
) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_with_the_login_it_shows_our_queues(app: Flask, client: FlaskClient) -> None:
    state: PDFQueueState = app.extensions["pdfqueue"]
    for n, priority in enumerate(("high", "normal", "normal", "low")):
        state.queue.enqueue(f"pdf_{n}", priority)
    page = client.get("/rq/", headers=basic("admin", PASSWORD))
    assert page.status_code == 200 and page.mimetype == "text/html"
    queues = client.get("/rq/0/data/queues.json", headers=basic("admin", PASSWORD)).get_json()
    counts = {queue["name"]: queue["count"] for queue in queues["queues"]}
    assert counts == {"pdf-high": 1, "pdf-normal": 2, "pdf-low": 1}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/rq/job/pdf_1/delete"),
        ("POST", "/rq/job/pdf_1/requeue"),
        ("GET", "/rq/requeue/pdf-normal"),
        ("POST", "/rq/requeue/pdf-normal"),
        ("POST", "/rq/queue/pdf-normal/failed/empty"),
        ("POST", "/rq/queue/pdf-normal/compact"),
    ],
)
def test_its_actions_are_refused_and_name_the_command_that_keeps_records_true(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, headers=basic("admin", PASSWORD))
    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "read_only" and "flask pdfqueue failed --requeue" in error["message"]


def test_only_the_dashboards_own_scripts_may_run(client: FlaskClient) -> None:
    page = client.get("/rq/", headers=basic("admin", PASSWORD))
    policy = page.headers["Content-Security-Policy"]
    allowed = set(re.findall(r"'sha256-([^']+)'", policy))
    inline = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.data, re.S)
    assert inline and allowed == {
        base64.b64encode(hashlib.sha256(body).digest()).decode() for body in inline
    }
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["X-Frame-Options"] == "DENY"
    # The API's own answers carry no dashboard policy.
    assert "Content-Security-Policy" not in client.get("/api/health").headers


def test_without_a_password_the_dashboard_stays_closed(
    stack_settings: dict[str, str], redis_server: RunningServer, tmp_path: Path
) -> None:
    production = {
        **stack_settings,
        "PDFQUEUE_PROFILE": "production",
        "PDFQUEUE_DASHBOARD_PASSWORD": "",
        "PDFQUEUE_PUBLIC_URL": "https://pdf.example.com",
        "PDFQUEUE_CALLBACK_ALLOWED_HOSTS": "n8n.example.com",
    }
    from flask_pdfqueue.config.settings import ConfigError

    with pytest.raises(ConfigError, match="PDFQUEUE_DASHBOARD_PASSWORD"):
        make_isolated_app(production, redis_server, tmp_path, redis_db=13)


def test_an_embedding_app_mounts_neither_dashboard_nor_metrics_unless_it_asks(
    stack_settings: dict[str, str], tmp_path: Path
) -> None:
    defaults = {
        k: v
        for k, v in stack_settings.items()
        if k not in ("PDFQUEUE_METRICS", "PDFQUEUE_DASHBOARD")
    }
    app = make_app(defaults, tmp_path)
    routes = {rule.rule for rule in app.url_map.iter_rules()}
    assert not any(r == "/metrics" or r.startswith("/rq") for r in routes), routes
    assert any(r.startswith("/api/") for r in routes)  # the API is there
    app.extensions["pdfqueue"].close()
