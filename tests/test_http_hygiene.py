"""HTTP hygiene over real servers: streamed bodies, OPTIONS, JSON errors on every path.

The stand-alone service runs under gunicorn, as ``make run`` and supervisord run it; the
embedded extension runs under Werkzeug's server. Both are real sockets and real HTTP,
not the test client.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

from flask_pdfqueue import PDFQueue, PDFQueueState
from tests.conftest import API_KEY
from tests.servers import free_port
from tests.test_api import error_of

ROOT = Path(__file__).resolve().parent.parent
SUBMIT = "/api/reports/generate-async"
KEY = {"X-API-Key": API_KEY}
MAX_BODY = 64 * 1024  # PDFQUEUE_MAX_BODY_BYTES's default, which the test stack keeps


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    def error(self, status: int) -> dict[str, Any]:
        """The envelope, after checking the status and that the body is JSON."""
        assert self.status == status, (self.status, self.body[:300])
        assert self.headers.get_content_type() == "application/json", self.body[:300]
        payload = json.loads(self.body)
        assert set(payload) == {"error"}
        assert payload["error"]["code"] and payload["error"]["message"]
        error: dict[str, Any] = payload["error"]
        return error


@dataclass(frozen=True)
class Server:
    """Where a real HTTP server listens."""

    port: int

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | Iterable[bytes] | None = None,
        chunked: bool = False,
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(
                method, path, body=body, headers=headers or {}, encode_chunked=chunked
            )
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()


@pytest.fixture(scope="module")
def service(
    stack_settings: dict[str, str],
    state: PDFQueueState,  # the session app: the SQL schema is in place
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """``gunicorn 'flask_pdfqueue.service:create_app()'`` configured by the environment."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    argv = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn.py")]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"]
    argv += ["flask_pdfqueue.service:create_app()"]
    process = subprocess.Popen(
        argv,
        env={**os.environ, **stack_settings},
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            server.request("GET", "/api/health")
            break
        except OSError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                log = log_path.read_text()[-3000:]
                raise RuntimeError(f"gunicorn did not start:\n{log}") from exc
            time.sleep(0.1)
    yield server
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def embedded(app: Flask) -> Iterator[Server]:
    """The session's embedding app behind Werkzeug's threaded server."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Server(server.port)
    server.shutdown()
    thread.join()


@pytest.fixture(params=["service", "embedded"])
def server(request: pytest.FixtureRequest) -> Server:
    served: Server = request.getfixturevalue(request.param)
    return served


def chunks(body: bytes, size: int = 4096) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def padded_json(length: int) -> bytes:
    """A JSON object missing its required fields, padded with spaces to ``length`` bytes."""
    return b"{}" + b" " * (length - 2)


JSON_KEY = {**KEY, "Content-Type": "application/json"}


@pytest.mark.parametrize("length", [MAX_BODY + 1, MAX_BODY + 6000])
def test_a_streamed_body_over_the_limit_is_413_not_a_json_error(
    server: Server, length: int
) -> None:
    answer = server.request(
        "POST", SUBMIT, headers=JSON_KEY, body=chunks(padded_json(length)), chunked=True
    )
    error = answer.error(413)
    assert error["code"] == "payload_too_large"
    assert str(MAX_BODY) in error["message"]


def test_a_streamed_body_of_the_full_size_is_read_whole(server: Server) -> None:
    answer = server.request(
        "POST", SUBMIT, headers=JSON_KEY, body=chunks(padded_json(MAX_BODY)), chunked=True
    )
    error = answer.error(400)  # parsed: the fields are what is wrong, not the JSON
    assert error["code"] == "invalid_fields"
    assert error["fields"] == {"code": "is required", "productId": "is required"}


def test_a_declared_body_one_byte_over_the_limit_is_413(server: Server) -> None:
    answer = server.request("POST", SUBMIT, headers=JSON_KEY, body=padded_json(MAX_BODY + 1))
    assert answer.error(413)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/jobs/pdf_x", {"GET", "HEAD", "DELETE", "OPTIONS"}),
        (SUBMIT, {"POST", "OPTIONS"}),
        ("/api/health", {"GET", "HEAD", "OPTIONS"}),
    ],
)
def test_options_lists_the_routes_real_methods_without_a_key(
    server: Server, path: str, allowed: set[str]
) -> None:
    answer = server.request("OPTIONS", path)
    assert (answer.status, answer.body) == (204, b"")
    assert {m.strip() for m in answer.headers["Allow"].split(",")} == allowed


def test_options_on_a_path_no_route_serves_is_404(server: Server) -> None:
    assert server.request("OPTIONS", "/api/no-such-thing").error(404)["code"] == "not_found"


def test_the_prefix_without_its_slash_is_the_apis_not_a_redirect(server: Server) -> None:
    assert server.request("GET", "/api").error(401)["code"] == "unauthorized"
    assert server.request("GET", "/api", headers=KEY).error(404)["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/", 404, "not_found"),
        ("GET", "/index.html", 404, "not_found"),
        ("POST", "/nothing/here", 404, "not_found"),
        ("GET", "/" + "x" * 3000, 404, "not_found"),
        ("GET", "/" + "x" * 9000, 414, "uri_too_long"),  # over gunicorn's default line limit
        ("GET", "/api/jobs?code=" + "x" * 20000, 414, "uri_too_long"),
        ("TRACE", "/", 404, "not_found"),
        ("TRACE", "/api/health", 405, "method_not_allowed"),
        ("PROPFIND", "/api/jobs/pdf_x", 405, "method_not_allowed"),
        ("PUT", "/api/health", 405, "method_not_allowed"),  # public path: no key needed
        ("GET", "/api/" + "x" * 3000, 401, "unauthorized"),
    ],
)
def test_the_service_answers_every_error_in_the_envelope(
    service: Server, method: str, path: str, status: int, code: str
) -> None:
    assert service.request(method, path).error(status)["code"] == code


def test_the_services_405s_say_what_is_allowed(service: Server) -> None:
    answer = service.request("DELETE", "/api/health", headers=KEY)
    assert answer.error(405)["code"] == "method_not_allowed"
    assert {m.strip() for m in answer.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


@pytest.mark.parametrize("before", [True, False], ids=["handlers-first", "extension-first"])
def test_the_hosts_own_error_handlers_keep_working_outside_the_api(
    stack_settings: dict[str, str], tmp_path: Path, before: bool
) -> None:
    app = Flask("host_with_handlers", instance_path=str(tmp_path))
    app.config.update(stack_settings)

    def register_host_handlers() -> None:
        @app.errorhandler(405)
        def host_405(exc: Exception) -> tuple[str, int]:
            return "host says 405", 405

        @app.errorhandler(404)
        def host_404(exc: Exception) -> tuple[str, int]:
            return "host says 404", 404

    if before:
        register_host_handlers()
    PDFQueue(app)
    if not before:
        register_host_handlers()

    @app.route("/hello", methods=["GET"])
    def hello() -> Response:
        return Response("hello")

    client = app.test_client()
    for method in ("TRACE", "POST"):
        host = client.open("/hello", method=method)
        assert (host.status_code, host.get_data(as_text=True)) == (405, "host says 405")
        api = client.open("/api/jobs/pdf_x", method="TRACE", headers=KEY)
        assert error_of(api, 405)["code"] == "method_not_allowed"
    assert client.get("/elsewhere").get_data(as_text=True) == "host says 404"
    assert error_of(client.get("/api/elsewhere", headers=KEY), 404)["code"] == "not_found"
    app.extensions["pdfqueue"].close()
