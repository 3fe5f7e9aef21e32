"""A real HTTP webhook receiver for the tests (stands in for n8n).

It runs a threaded http.server on a free loopback port, records every request
exactly as it arrived (the path with its query string byte for byte, headers,
body), answers like an n8n webhook by default, and can be scripted per path to
fail or to answer late, so retries and timeouts are tested over a real socket.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias

__all__ = ["DEFAULT_BODY", "Received", "Reply", "WebhookReceiver"]

DEFAULT_BODY = b'{"message":"Workflow was started"}'

# One scripted answer: a status, a full (status, headers, body), or ("delay", seconds)
# optionally followed by what to answer after the delay (default: the 200 above).
Reply: TypeAlias = (
    int | tuple[int, dict[str, str], bytes] | tuple[str, float] | tuple[str, float, Any]
)


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str  # request target as sent, query string included (latin-1 decoded bytes)
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes
    at: float = field(default=0.0, compare=False)  # time.monotonic() on arrival

    @property
    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not JSON)."""
        return json.loads(self.body)

    @property
    def route(self) -> str:
        """The path without its query string."""
        return self.path.split("?", 1)[0]


def _matches(request: Received, path: str) -> bool:
    return request.path == path if "?" in path else request.route == path


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real server behind a proxy
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output should not be full of access lines."""

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = Received(self.command, self.path, headers, self._read_body(), time.monotonic())
        receiver = self.server.receiver
        reply: Any = receiver._record(request)
        outage = receiver.outage
        if outage == "drop":  # the connection closes with no answer at all
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            receiver._answer(request, None)
            return
        if outage is not None:
            reply = outage
        if isinstance(reply, tuple) and reply[0] == "delay":
            if receiver._closed.wait(float(reply[1])):
                self.close_connection = True
                return
            reply = reply[2] if len(reply) > 2 else None
        status: int = 200
        extra: dict[str, str] = {"Content-Type": "application/json"}
        body: bytes = DEFAULT_BODY
        if isinstance(reply, int):
            status = reply
        elif isinstance(reply, tuple):
            status, extra, body = reply
        receiver._answer(request, status)
        with contextlib.suppress(OSError):  # the client may have given up (timeout tests)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # close() must not wait for a deliberately delayed answer
    receiver: WebhookReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (or a connection we dropped on purpose) is no error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class WebhookReceiver:
    """Records requests on http://<host, 127.0.0.1 by default>:<free port>; use as a context
    manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._received: list[Received] = []
        self._script: dict[str, deque[Reply]] = {}
        self._answers: list[tuple[Received, int | None]] = []
        #: While set, every request gets this status, or (``"drop"``) no answer at all.
        self.outage: int | str | None = None
        self._server = _Server((host, 0), _Handler)
        self._server.receiver = self
        self.port: int = int(self._server.server_address[1])
        self.url: str = f"http://{host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"webhook-receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, path: str) -> str:
        """Absolute URL of path on this receiver (path should start with '/')."""
        return self.url + (path if path.startswith("/") else "/" + path)

    def respond(self, path: str, *replies: Reply) -> None:
        """Script the next answers for path, in order; afterwards 200 again.

        A path with "?" matches that exact target; without, any query string.
        Each reply is a status, (status, headers, body), or ("delay", seconds[, reply]).
        """
        with self._cond:
            self._script.setdefault(path, deque()).extend(replies)

    def _record(self, request: Received) -> Reply | None:
        with self._cond:
            self._received.append(request)
            self._cond.notify_all()
            for key in (request.path, request.route):
                queue = self._script.get(key)
                if queue:
                    return queue.popleft()
            return None

    def _answer(self, request: Received, status: int | None) -> None:
        with self._cond:
            self._answers.append((request, status))

    def answered(self, status_class: int = 2) -> list[Received]:
        """Requests answered with a status of that class (2: 2xx), in arrival order."""
        with self._cond:
            return [r for r, s in self._answers if s is not None and s // 100 == status_class]

    def requests(self, path: str | None = None) -> list[Received]:
        """Requests so far, in arrival order; all of them, or those on path."""
        with self._cond:
            return [r for r in self._received if path is None or _matches(r, path)]

    def wait_for(self, path: str, count: int = 1, timeout: float = 30) -> list[Received]:
        """Block until at least count requests arrived on path; return them."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self.requests(path)) >= count, timeout):
                return self.requests(path)
            seen = ", ".join(f"{r.method} {r.path}" for r in self._received) or "nothing"
            got = len(self.requests(path))
        raise AssertionError(
            f"expected {count} request(s) on {path} within {timeout} s, got {got}; "
            f"the receiver saw: {seen}"
        )

    def close(self) -> None:
        """Stop serving (idempotent); delayed answers are abandoned."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
