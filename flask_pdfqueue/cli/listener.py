"""A webhook receiver for trying the service out: prints each event, checks its signature.

``flask pdfqueue listen`` runs it; ``make run`` starts one on 127.0.0.1:8001 and
logs to ``var/log/webhooks.log``, so a first demo job ends in a visible webhook
without n8n. It answers 200 like n8n's webhook node does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..webhooks.signing import verify

#: Largest body the listener reads; webhook events are a few hundred bytes.
MAX_BODY = 1 << 20


def make_listener(
    host: str, port: int, secrets: Sequence[str], echo: Callable[[str], None]
) -> ThreadingHTTPServer:
    """A server that prints every POST it receives, with the signature's verdict (valid
    when it is signed with any of ``secrets``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            valid = any(verify(secret, headers, body) for secret in secrets)
            try:
                shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
            except ValueError:
                shown = body.decode("utf-8", "replace")
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            verdict = "valid" if valid else "INVALID"
            echo(f"{stamp} POST {self.path} signature={verdict} id={headers.get('webhook-id')}")
            echo(shown)
            reply = json.dumps({"message": "received", "signature": verdict}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: every request is already echoed above."""

    return ThreadingHTTPServer((host, port), Handler)
