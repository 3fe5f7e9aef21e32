"""A reverse proxy between n8n and the service that can lose an answer on the way back.

A request the service took, whose answer never reached the client, is what n8n's Retry On Fail
meets behind a real proxy that timed out: the work is done, the client sees a 504 and sends
the request again. Everything else passes through unchanged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

#: Headers that belong to one connection, not to the request or answer passed on.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    "content-length",
}


@dataclass(frozen=True)
class Passed:
    """One request through the proxy, and the status its client got."""

    method: str
    path: str
    idempotency_key: str | None
    status: int


class LossyProxy:
    """Passes requests to ``upstream``; :meth:`lose_next_answer` drops one answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.passed: list[Passed] = []
        self._lose: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def lose_next_answer(self, method: str, path: str) -> None:
        """The next ``method path`` request reaches the service; its client gets a 504."""
        with self._lock:
            self._lose.add((method, path))

    def requests_to(self, method: str, path: str) -> list[Passed]:
        with self._lock:
            return [p for p in self.passed if (p.method, p.path) == (method, path)]

    def _should_lose(self, method: str, path: str) -> bool:
        with self._lock:
            if (method, path) in self._lose:
                self._lose.discard((method, path))
                return True
            return False

    def _note(self, passed: Passed) -> None:
        with self._lock:
            self.passed.append(passed)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _pass(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                answer = requests.request(
                    self.command,
                    proxy.upstream + self.path,
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                    timeout=60,
                    stream=True,
                )
                path = self.path.split("?", 1)[0]
                # the bytes as sent (Content-Encoding, if any, passes on with them)
                status, content = answer.status_code, answer.raw.read(decode_content=False)
                kept = [(k, v) for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP]
                if proxy._should_lose(self.command, path):
                    # the service did the work; its answer is gone, as behind a timed-out proxy
                    status, content = 504, b"upstream answer lost by the test proxy\n"
                    kept = [("Content-Type", "text/plain")]
                proxy._note(Passed(self.command, path, self.headers.get("Idempotency-Key"), status))
                self.send_response(status)
                for name, value in kept:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _pass

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the test asserts on :attr:`LossyProxy.passed` instead."""

        return Handler

    @contextmanager
    def running(self) -> Iterator[LossyProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
